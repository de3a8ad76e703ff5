// Add-user form: only Active and Locked users hold licences, so the licence boxes are
// switched off (and not sent) while another status is chosen; the ticks come back
// with Active or Locked.
document.querySelectorAll("select[data-licensed-statuses]").forEach((select) => {
  const licensed = select.dataset.licensedStatuses.split(" ");
  const choices = select.form.querySelector("[data-licence-choices]");
  if (!choices) return;
  const update = () => {
    choices.disabled = !licensed.includes(select.value);
  };
  select.addEventListener("change", update);
  update();
});
