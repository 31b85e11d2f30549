// The invoice form: the unit title fields only matter for a unit invoice.
(function () {
  var form = document.getElementById('invoice-form');
  if (!form) return;
  var unit = form.querySelector('[data-unit-fields]');
  function sync() {
    var chosen = form.querySelector('input[name="title_type"]:checked');
    unit.hidden = !chosen || chosen.value !== 'unit';
  }
  form.addEventListener('change', sync);
  sync();
})();
