// The JupyterHub button of a lesson: an nbgitpuller link. Built for one hub (make docs HUB=...) its href is the
// link; otherwise a click asks for the reader's hub once (kept in this browser) and goes there.
document.addEventListener("click", (event) => {
  const link = event.target.closest("a[data-nbgitpuller]");
  if (!link || link.dataset.hub === "fixed") return;
  event.preventDefault();
  const asked = window.prompt("The address of your JupyterHub (e.g. https://hub.example.edu):",
                              window.localStorage.getItem("minirmt-hub") || "");
  if (!asked) return;
  const hub = asked.trim().replace(/\/+$/, "");
  window.localStorage.setItem("minirmt-hub", hub);
  window.location.href = hub + link.dataset.nbgitpuller;
});
