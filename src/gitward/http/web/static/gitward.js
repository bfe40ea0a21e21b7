// Comforts only: every page works without this file. Served from our own origin, so the
// Content-Security-Policy (script-src 'self', no inline script) allows it.
"use strict";

function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    return navigator.clipboard.writeText(text);
  }
  // Plain http on another host is not a "secure context": fall back to a selection copy.
  const scratch = document.createElement("textarea");
  scratch.value = text;
  scratch.setAttribute("readonly", "");
  scratch.style.position = "fixed";
  scratch.style.opacity = "0";
  document.body.appendChild(scratch);
  scratch.select();
  const ok = document.execCommand("copy");
  scratch.remove();
  return ok ? Promise.resolve() : Promise.reject(new Error("copy refused"));
}

function setUpCopyButtons() {
  for (const button of document.querySelectorAll("button[data-copy-from]")) {
    const source = document.getElementById(button.dataset.copyFrom);
    if (!source) continue;
    button.hidden = false;
    button.addEventListener("click", () => {
      const text = "value" in source && source.tagName !== "PRE" ? source.value : source.textContent;
      const label = button.textContent;
      copyText(text).then(
        () => { button.textContent = "Copied"; button.classList.add("copied"); button.dataset.copied = text; },
        () => { button.textContent = "Select and copy"; if (source.select) source.select(); },
      );
      setTimeout(() => { button.textContent = label; button.classList.remove("copied"); }, 2000);
    });
  }
  for (const input of document.querySelectorAll("input.copy-source")) {
    input.addEventListener("focus", () => input.select());
  }
}

function setUpNameConfirmations() {
  // The "type the name to remove" forms: the button wakes up once the name matches (the
  // server checks it again either way).
  for (const form of document.querySelectorAll("form.confirm-name")) {
    const input = form.querySelector("input[name=confirm]");
    const button = form.querySelector("button[type=submit]");
    const want = (form.dataset.name || "").toLowerCase();
    const update = () => { button.disabled = input.value.trim().toLowerCase() !== want; };
    input.addEventListener("input", update);
    update();
  }
}

document.addEventListener("DOMContentLoaded", () => {
  setUpCopyButtons();
  setUpNameConfirmations();
});
