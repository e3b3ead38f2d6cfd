// Every page: highlight code blocks, and show the messages of refused requests.
(function () {
  "use strict";

  // <pre><code class="language-x"> on the page and in every fragment htmx swaps in; a language
  // highlight.js lacks is shown as plain text rather than guessed. Pages without code blocks
  // do not load highlight.js at all.
  function highlight(root) {
    if (!window.hljs || !root.querySelectorAll) return;
    root.querySelectorAll("pre code[class*='language-']:not([data-highlighted])").forEach((el) => {
      const name = Array.from(el.classList).find((c) => c.startsWith("language-"));
      if (!window.hljs.getLanguage(name.slice("language-".length))) {
        el.classList.replace(name, "language-plaintext");
      }
      window.hljs.highlightElement(el);
    });
  }
  htmx.onLoad(highlight);

  // htmx 2 does not swap 4xx responses, but ours carry a role="alert" message worth showing.
  // A non-HTML one (the JSON 413 of the body size limit) becomes such a message here.
  document.addEventListener("htmx:beforeSwap", (event) => {
    const xhr = event.detail.xhr;
    if (xhr.status < 400 || xhr.status >= 500) return;
    event.detail.shouldSwap = true;
    event.detail.isError = false;
    if (/text\/html/.test(xhr.getResponseHeader("Content-Type") || "")) return;
    let detail = `The server refused the request (HTTP ${xhr.status}).`;
    try {
      const body = JSON.parse(xhr.responseText);
      if (body.detail) {
        detail = typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail);
      }
    } catch (ignored) {
      // not JSON: keep the generic message
    }
    const alert = document.createElement("p");
    alert.className = "bad";
    alert.setAttribute("role", "alert");
    alert.textContent = detail;
    event.detail.serverResponse = alert.outerHTML;
  });
})();
