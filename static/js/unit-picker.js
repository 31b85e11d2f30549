// Unit search for registration and profile forms: type two characters, pick a unit.
// Picking a unit clears the district; choosing a district clears the unit.
(function () {
  var box = document.querySelector('[data-unit-picker]');
  if (!box) return;
  var url = box.getAttribute('data-search-url');
  var input = box.querySelector('[name="unit_name"]');
  var hidden = box.querySelector('[name="unit_id"]');
  var results = box.querySelector('.h5-unit-results');
  var district = box.querySelector('[name="district_id"]');
  var timer = null;

  function clearResults() { results.innerHTML = ''; }

  function show(units) {
    clearResults();
    if (!units.length) {
      var none = document.createElement('div');
      none.className = 'weui-cells__tips';
      none.textContent = '没有找到该单位，请检查名称，或在下方选择档案所在区县。';
      results.appendChild(none);
      return;
    }
    units.forEach(function (unit) {
      var button = document.createElement('button');
      button.type = 'button';
      button.setAttribute('role', 'option');
      button.textContent = unit.name;
      var small = document.createElement('small');
      small.textContent = unit.district;
      button.appendChild(small);
      button.addEventListener('click', function () {
        hidden.value = unit.id;
        input.value = unit.name;
        if (district) district.value = '';
        clearResults();
      });
      results.appendChild(button);
    });
  }

  input.addEventListener('input', function () {
    hidden.value = '';
    clearTimeout(timer);
    var q = input.value.trim();
    if (q.length < 2) { clearResults(); return; }
    timer = setTimeout(function () {
      fetch(url + '?q=' + encodeURIComponent(q), { credentials: 'same-origin' })
        .then(function (response) { return response.json(); })
        .then(show)
        .catch(clearResults);
    }, 250);
  });

  if (district) {
    district.addEventListener('change', function () {
      if (district.value) { hidden.value = ''; input.value = ''; clearResults(); }
    });
  }
})();
