/* The create form's live recipient count: the segment fields and channels are sent to count.json 400 ms after the
   last change; an answer to an older form is dropped, and a field that does not parse yet shows its error. */
(function () {
  "use strict";
  var form = document.getElementById("campaign-form");
  var output = document.getElementById("recipient-count");
  var problem = document.getElementById("recipient-count-error");
  if (!form || !output) { return; }
  var timer = null, asked = 0;

  function query() {
    var params = new URLSearchParams();
    new FormData(form).forEach(function (value, name) {
      if (name !== "csrf_token" && name !== "store_guard" && typeof value === "string") { params.append(name, value); }
    });
    return params.toString();
  }

  function refresh() {
    var mine = ++asked;
    output.setAttribute("data-state", "pending");
    fetch(form.getAttribute("data-count-url") + "?" + query(), {credentials: "same-origin",
                                                                headers: {"Accept": "application/json"}})
      .then(function (response) { return response.json(); })
      .then(function (body) {
        if (mine !== asked) { return; }
        if (body.error) {
          problem.textContent = body.error.field + ": " + body.error.message;
          output.setAttribute("data-state", "error");
        } else {
          output.textContent = body.count.toLocaleString();
          problem.textContent = "";
          output.setAttribute("data-state", "ready");
        }
      })
      .catch(function () { if (mine === asked) { output.setAttribute("data-state", "error"); } });
  }

  function later() {
    clearTimeout(timer);
    timer = setTimeout(refresh, 400);
  }

  form.addEventListener("input", later);
  form.addEventListener("change", later);
  refresh();
})();
