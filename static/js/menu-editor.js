// The menu editor: each row shows the field its type uses (链接, 回复 or the 二级菜单), and the
// hidden fields are not sent. Without this script every field shows; the server reads only the
// field of the chosen type.
(function () {
  function apply(select) {
    var scope = select.closest('.wx-row_sub') || select.closest('[data-menu-button]');
    var kind = select.value;
    scope.querySelectorAll('[data-for-kind]').forEach(function (part) {
      // A top-level row's parts, not those of its sub-buttons (they have their own select).
      if (!select.closest('.wx-row_sub') && part.closest('.wx-row_sub')) {
        return;
      }
      var shown = part.getAttribute('data-for-kind') === kind;
      part.hidden = !shown;
      part.querySelectorAll('input, select').forEach(function (field) {
        field.disabled = !shown;
      });
    });
    if (!select.closest('.wx-row_sub') && kind === 'subs') {
      scope.querySelectorAll('.wx-row_sub [data-menu-kind]').forEach(apply);
    }
  }

  document.querySelectorAll('[data-menu-kind]').forEach(function (select) {
    select.addEventListener('change', function () { apply(select); });
  });
  document.querySelectorAll('[data-menu-button] > .wx-row [data-menu-kind]').forEach(apply);
})();
