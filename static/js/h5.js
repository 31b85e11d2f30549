// Shared page behaviour: flash tips fade after a few seconds; progress bars take their width
// from data-percent (the Content-Security-Policy allows no inline style); a touch listener
// lets WeUI's :active states show on iOS.
(function () {
  document.querySelectorAll('.h5-flash').forEach(function (tip) {
    setTimeout(function () { tip.style.display = 'none'; }, 4000);
  });
  document.querySelectorAll('[data-percent]').forEach(function (bar) {
    bar.style.width = bar.getAttribute('data-percent') + '%';
  });
  document.body.addEventListener('touchstart', function () {}, { passive: true });
})();
