// Relation pickers (views/pickers.py): a <select class="crm-picker"> holds only its chosen
// options and asks the screen for the first matches of what is typed. The list's filter
// rows are added by Flask-AppBuilder's script after the page loads, so new pickers are
// found as they appear.
(function ($) {
    "use strict";

    var russian = {
        errorLoading: function () { return "Не удалось загрузить варианты"; },
        inputTooLong: function () { return "Слишком длинный текст"; },
        loadingMore: function () { return "Загрузка…"; },
        noResults: function () { return "Ничего не найдено"; },
        searching: function () { return "Поиск…"; },
        removeAllItems: function () { return "Убрать всё"; }
    };

    function start(select) {
        var $select = $(select);
        if ($select.data("crmPicker") || !$select.data("pickerUrl")) {
            return;
        }
        $select.data("crmPicker", true);
        $select.select2({
            theme: "bootstrap",
            width: "100%",
            allowClear: !$select.prop("multiple"),
            placeholder: $select.data("placeholder") || "",
            language: russian,
            ajax: {
                url: $select.data("pickerUrl"),
                dataType: "json",
                delay: 250,
                data: function (params) { return {q: params.term || ""}; },
                processResults: function (data) { return {results: data.results || []}; }
            }
        });
    }

    function startAll(root) {
        $(root).find("select.crm-picker").addBack("select.crm-picker").each(function () {
            start(this);
        });
    }

    $(function () {
        startAll(document.body);
        new MutationObserver(function (changes) {
            changes.forEach(function (change) {
                change.addedNodes.forEach(function (node) {
                    if (node.nodeType === 1) {
                        startAll(node);
                    }
                });
            });
        }).observe(document.body, {childList: true, subtree: true});
    });
})(jQuery);
