/* Small conveniences for every admin page (no external libraries). */
(function () {
  "use strict";
  var wordsMeta = document.querySelector('meta[name="rt-words"]');
  var words = wordsMeta ? JSON.parse(wordsMeta.getAttribute("content")) : {};
  /* A word in the reader's language (the page's <meta name="rt-words">), its %(name)s filled from values. */
  window.rtWord = function (english, values) {
    var text = words[english] || english;
    return text.replace(/%\((\w+)\)s/g, function (all, name) { return values && name in values ? values[name] : all; });
  };
  document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    button.addEventListener("click", function () {
      var field = document.querySelector(button.getAttribute("data-copy"));
      field.select();
      if (navigator.clipboard) { navigator.clipboard.writeText(field.value); } else { document.execCommand("copy"); }
      button.textContent = window.rtWord("Copied");
    });
  });
})();
