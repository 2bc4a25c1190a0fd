// The case page's determination forms: choosing "Partially approved" unfolds the line-by-line units beneath it.
// Without this script the same inputs are there under "The payer decided line by line", one click away.
(function () {
  "use strict";
  document.addEventListener("change", function (event) {
    var select = event.target;
    if (select.tagName !== "SELECT" || !/(^|-)determination$/.test(select.name)) { return; }
    var form = select.closest("form");
    var lines = form && form.querySelector("details.line-decisions");
    if (lines && select.value === "partially_approved") { lines.open = true; }
  });
}());
