// The upload form: send a folder's files under their paths (mnemolite.js does the rest).
(function () {
  "use strict";

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
