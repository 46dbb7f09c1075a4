// «Скопировать» next to a client link: <button data-crm-copy="#input-id">. The CSP runs no
// inline handlers, so the click is bound here.
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var button = event.target && event.target.closest ? event.target.closest("[data-crm-copy]") : null;
    if (!button) {
      return;
    }
    event.preventDefault();
    var input = document.querySelector(button.getAttribute("data-crm-copy"));
    if (!input) {
      return;
    }
    var done = function () { button.textContent = "Скопировано"; };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(input.value).then(done);
    } else {
      input.select();
      document.execCommand("copy");
      done();
    }
  });
})();
