// The case page's upload form: when a chosen file's name starts with a date (2026-09-14-evaluation.docx)
// and the row's date is empty, show that date in the row before sending. Without this script the server
// reads the same date from the name, so the form works the same with JavaScript off.
(function () {
  "use strict";
  var DATE_IN_NAME = /(^|[^0-9])([0-9]{4})[-_.]([0-9]{2})[-_.]([0-9]{2})(?![0-9])/;
  var form = document.getElementById("upload-form");
  if (!form) { return; }
  form.addEventListener("change", function (event) {
    var input = event.target;
    if (input.type !== "file" || !input.files || input.files.length !== 1) { return; }
    var row = input.closest("tr");
    var dateInput = row && row.querySelector('input[name="date"]');
    var match = DATE_IN_NAME.exec(input.files[0].name);
    if (!dateInput || dateInput.value || !match) { return; }
    var iso = match[2] + "-" + match[3] + "-" + match[4];
    var day = new Date(iso + "T00:00:00Z");
    if (!isNaN(day.getTime()) && day.toISOString().slice(0, 10) === iso) { dateInput.value = iso; }
  });
}());
