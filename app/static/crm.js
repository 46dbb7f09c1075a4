// Behaviour the templates declare with data- attributes. The Content-Security-Policy runs
// no inline handlers (onsubmit=, onclick=) and no javascript: links, so it is bound here.
(function () {
  "use strict";
  // <form data-confirm="Удалить файл?">: asks before the form is sent.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form && form.getAttribute ? form.getAttribute("data-confirm") : null;
    if (question && !window.confirm(question)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);
  // <a data-crm-back href="/">: back to the previous page when there is one.
  document.addEventListener("click", function (event) {
    var link = event.target && event.target.closest ? event.target.closest("[data-crm-back]") : null;
    if (link && window.history.length > 1) {
      event.preventDefault();
      window.history.back();
    }
  });
})();
