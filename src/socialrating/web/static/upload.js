// A progress bar for file uploads. Without JavaScript the form posts as usual; with it,
// the file goes up through XMLHttpRequest, whose upload events move the bar, and the
// answer replaces the page (a redirect is followed to its page).
"use strict";
document.querySelectorAll("form[data-progress]").forEach(function (form) {
  form.addEventListener("submit", function (event) {
    var bar = document.getElementById(form.getAttribute("data-progress"));
    if (!bar || !window.XMLHttpRequest || !window.FormData) { return; }
    event.preventDefault();
    var label = form.querySelector(".progress-label");
    bar.hidden = false;
    if (label) { label.hidden = false; }
    form.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
    var xhr = new XMLHttpRequest();
    xhr.open(form.method, form.action);
    xhr.upload.addEventListener("progress", function (e) {
      if (e.lengthComputable) { bar.value = Math.round(100 * e.loaded / e.total); }
    });
    xhr.addEventListener("load", function () {
      if (xhr.status < 400 && xhr.responseURL) { window.location.assign(xhr.responseURL); return; }
      document.open();
      document.write(xhr.responseText);
      document.close();
    });
    xhr.addEventListener("error", function () {
      form.querySelectorAll("button").forEach(function (b) { b.disabled = false; });
      bar.hidden = true;
      if (label) { label.textContent = "The upload failed: check the connection and send it again."; }
    });
    xhr.send(new FormData(form));
  });
});
