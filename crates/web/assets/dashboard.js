// Holdfast dashboard: the little the pages need beyond htmx. Dialogs open as modals (focus moves
// into them, Escape closes them, focus returns to what opened them), and live refreshes never
// replace a page with an error.
(function () {
  "use strict";
  var opener = null;

  function openDialogs(root) {
    var dialogs = (root || document).querySelectorAll("dialog[data-dialog]");
    dialogs.forEach(function (dialog) {
      if (!dialog.isConnected || (dialog.open && dialog.matches(":modal"))) return;
      if (dialog.open) dialog.close();
      if (document.getElementById("modal").contains(dialog)) {
        dialog.showModal();
        var first = dialog.querySelector("[autofocus], input:not([type=hidden]), select, textarea, button[type=submit]");
        if (first) first.focus();
      }
    });
  }

  function closeDialog(dialog) {
    if (dialog.open) dialog.close();
    var host = document.getElementById("modal");
    if (host && host.contains(dialog)) host.innerHTML = "";
    if (opener && opener.isConnected) opener.focus();
    opener = null;
  }

  document.addEventListener("click", function (event) {
    var close = event.target.closest("[data-close]");
    if (close) {
      var dialog = close.closest("dialog");
      if (dialog && document.getElementById("modal").contains(dialog)) {
        event.preventDefault();
        closeDialog(dialog);
      }
      return;
    }
    var trigger = event.target.closest("[hx-get][hx-target='#modal']");
    if (trigger) opener = trigger;
  });

  document.addEventListener("cancel", function (event) {
    if (event.target.matches("dialog[data-dialog]")) {
      event.preventDefault();
      closeDialog(event.target);
    }
  }, true);

  document.addEventListener("htmx:afterSettle", function (event) {
    openDialogs(event.detail.elt && event.detail.elt.parentNode ? event.detail.elt.parentNode : document);
  });

  // A live refresh that fails (a blip, a restart) keeps the page as it was.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var elt = event.detail.requestConfig && event.detail.requestConfig.elt;
    if (elt && elt.hasAttribute("data-live") && event.detail.xhr.status >= 400) {
      event.detail.shouldSwap = false;
    }
  });

  // Copy buttons for secrets shown once.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (source && navigator.clipboard) {
      navigator.clipboard.writeText(source.textContent.trim()).then(function () {
        button.textContent = "Copied";
      });
    }
  });
})();
