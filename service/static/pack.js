// The event pack's Print button (the page allows no inline script).
document.addEventListener("DOMContentLoaded", () => {
  const button = document.getElementById("print-pack");
  if (button) button.addEventListener("click", () => window.print());
});
