// Shared page behaviour: flash tips fade after a few seconds.
(function () {
  document.querySelectorAll('.h5-flash').forEach(function (tip) {
    setTimeout(function () { tip.style.display = 'none'; }, 4000);
  });
})();
