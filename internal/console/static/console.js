// The queue's live parts, as progressive enhancement: without script the
// page shows each due time and is reloaded by hand.
(function () {
  "use strict";
  function tick() {
    document.querySelectorAll("time.countdown").forEach(function (el) {
      if (!el.dataset.due) { el.dataset.due = el.getAttribute("datetime"); el.title = el.textContent; }
      var left = Math.round((Date.parse(el.dataset.due) - Date.now()) / 1000);
      var overdue = el.dataset.overdue || (document.getElementById("queue-rows") || {dataset: {}}).dataset.overdue || "overdue";
      el.textContent = left < 0 ? overdue : Math.floor(left / 60) + ":" + String(left % 60).padStart(2, "0");
      el.classList.toggle("late", left < 300);
    });
  }
  // A new held order shows within a second: the table body is fetched
  // again every second (a fragment of server-rendered rows).
  function poll() {
    var rows = document.getElementById("queue-rows");
    if (!rows) { return; }
    // A session that ended answers with a redirect to sign in: reload the
    // page to follow it, rather than put the sign-in form in the table.
    fetch(rows.dataset.src, {credentials: "same-origin", redirect: "manual", headers: {"Accept": "text/html"}})
      .then(function (r) {
        if (r.type === "opaqueredirect") { location.reload(); return null; }
        return r.ok ? r.text() : null;
      })
      .then(function (html) { if (html !== null) { rows.innerHTML = html; tick(); } })
      .catch(function () {});
  }
  document.addEventListener("DOMContentLoaded", function () {
    tick();
    setInterval(tick, 1000);
    if (document.getElementById("queue-rows")) { setInterval(poll, 1000); }
  });
})();
