// Helpline workspace: the little script every page shares (no build step).
// The browser's time zone goes with the sign-in form, so times show in the person's zone.
document.addEventListener("DOMContentLoaded", () => {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
  document.querySelectorAll("input[data-browser-timezone]").forEach((input) => {
    input.value = zone;
  });
  // After an htmx swap, move focus to a heading or alert that asks for it (screen readers).
  document.body.addEventListener("htmx:afterSwap", (event) => {
    const target = event.detail.target.querySelector("[data-focus]");
    if (target) target.focus();
  });
});
// Filter forms (GET) leave their empty fields out of the URL, so a shared link says only what
// was chosen; the fields come back when the page is shown again from the history.
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("form[data-drop-empty]").forEach((form) => {
    form.addEventListener("submit", () => {
      form.querySelectorAll("input, select").forEach((field) => {
        if (field.name && !field.value) field.disabled = true;
      });
    });
  });
});
window.addEventListener("pageshow", () => {
  document.querySelectorAll("form[data-drop-empty] [disabled]").forEach((field) => {
    field.disabled = false;
  });
});
