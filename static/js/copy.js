// Copy buttons: a <button data-copy="text" hidden> is shown once this script runs (without JavaScript the
// text stays selectable beside it) and puts its text on the clipboard when pressed. What it then says comes
// from the page, in the page's language: data-copied and data-copy-failed on the button.
(function () {
  "use strict";

  function reveal(root) {
    root.querySelectorAll("button[data-copy][hidden]").forEach(function (button) {
      button.hidden = false;
    });
  }

  function copied(button, ok) {
    var label = button.dataset.label || button.textContent;
    button.dataset.label = label;
    button.textContent = ok ? button.dataset.copied || "Copied" : button.dataset.copyFailed || "Press Ctrl+C";
    window.setTimeout(function () { button.textContent = label; }, 1500);
  }

  function selectBeside(button) {
    var target = button.previousElementSibling;
    if (!target) return false;
    var range = document.createRange();
    range.selectNodeContents(target);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    return true;
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-copy]");
    if (!button) return;
    event.preventDefault();
    var text = button.dataset.copy;
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(
        function () { copied(button, true); },
        function () { copied(button, false); selectBeside(button); }
      );
    } else {
      copied(button, false);
      selectBeside(button);
    }
  });

  document.addEventListener("DOMContentLoaded", function () { reveal(document); });
  // content htmx swaps in (a new page of the audit log) brings its own buttons
  document.addEventListener("htmx:load", function (event) { reveal(event.target); });
})();
