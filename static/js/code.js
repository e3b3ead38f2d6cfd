// The code pages: highlight code after every swap, show 4xx fragments, send folder paths.
(function () {
  "use strict";

  // Our language names that highlight.js lacks are shown as plain text, not guessed.
  function highlight(root) {
    if (!window.hljs || !root.querySelectorAll) return;
    root.querySelectorAll("pre code[class*='language-']:not([data-highlighted])").forEach(function (el) {
      var name = Array.from(el.classList).find(function (c) { return c.indexOf("language-") === 0; });
      if (!window.hljs.getLanguage(name.slice("language-".length))) {
        el.classList.replace(name, "language-plaintext");
      }
      window.hljs.highlightElement(el);
    });
  }
  // The page itself and every fragment htmx swaps in.
  htmx.onLoad(highlight);

  // htmx 2 does not swap 4xx responses; ours carry a role="alert" message worth showing.
  // A non-HTML one (the 413 of the body size limit is JSON) becomes such a message here.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var xhr = event.detail.xhr;
    if (xhr.status < 400 || xhr.status >= 500) return;
    event.detail.shouldSwap = true;
    event.detail.isError = false;
    if (/text\/html/.test(xhr.getResponseHeader("Content-Type") || "")) return;
    var detail = "The server refused the request (HTTP " + xhr.status + ").";
    try {
      var body = JSON.parse(xhr.responseText);
      if (body.detail) detail = typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail);
    } catch (ignored) { /* keep the generic message */ }
    var alert = document.createElement("p");
    alert.className = "bad";
    alert.setAttribute("role", "alert");
    alert.textContent = detail;
    event.detail.serverResponse = alert.outerHTML;
  });

  // A folder's files go under their paths inside the folder: FormData would send base names
  // only. .git/ is left out here, as the server would drop it and it often exceeds the limit.
  document.addEventListener("htmx:configRequest", function (event) {
    var form = event.detail.elt;
    var folder = form.querySelector && form.querySelector("input[type=file][webkitdirectory]");
    if (!folder || !event.detail.formData) return;
    var data = event.detail.formData;
    data.delete(folder.name);
    Array.from(folder.files).forEach(function (file) {
      var path = file.webkitRelativePath || file.name;
      if (path.split("/").indexOf(".git") === -1) data.append(folder.name, file, path);
    });
  });
})();
