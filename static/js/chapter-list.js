// The chapter list under the player and 自动播放下一节: the switch is remembered in
// localStorage; when this chapter is finished and its video has ended, the next unfinished
// chapter of the course opens and starts playing.
(function () {
  'use strict';
  var KEY = 'study.autoplay';
  var root = document.getElementById('study-player');
  var list = document.getElementById('study-list');
  var toggle = document.getElementById('study-autoplay');
  var video = document.getElementById('study-video');
  var status = document.getElementById('study-status');
  if (!root || !list || !toggle || !video) { return; }

  var currentId = root.dataset.chapterId;
  var finished = false;
  var leaving = false;

  function stored() {
    try { return window.localStorage.getItem(KEY) === '1'; } catch (e) { return false; }
  }
  function remember(on) {
    try { window.localStorage.setItem(KEY, on ? '1' : '0'); } catch (e) { /* private mode: not remembered */ }
  }

  toggle.checked = stored();
  toggle.addEventListener('change', function () {
    remember(toggle.checked);
    maybeGoOn();
  });

  function rows() { return Array.prototype.slice.call(list.querySelectorAll('[data-chapter-id]')); }

  function markCurrentFinished() {
    rows().forEach(function (row) {
      if (row.dataset.chapterId !== currentId || row.dataset.finished) { return; }
      row.dataset.finished = '1';
      var title = row.querySelector('.study-title');
      if (title && !title.querySelector('.h5-check')) {
        var icon = document.createElement('i');
        icon.className = 'weui-icon-success-no-circle h5-check';
        icon.setAttribute('role', 'img');
        icon.setAttribute('aria-label', '已学完');
        title.appendChild(icon);
      }
      var ft = row.querySelector('.weui-cell__ft');
      if (ft) { ft.textContent = '已学完'; }
    });
  }

  // The next unfinished chapter after this one; failing that, the first unfinished before it.
  function nextUnfinished() {
    var all = rows();
    var at = -1;
    all.forEach(function (row, index) { if (row.dataset.chapterId === currentId) { at = index; } });
    var ordered = all.slice(at + 1).concat(all.slice(0, Math.max(at, 0)));
    for (var i = 0; i < ordered.length; i += 1) {
      if (!ordered[i].dataset.finished && ordered[i].dataset.chapterId !== currentId) { return ordered[i]; }
    }
    return null;
  }

  function maybeGoOn() {
    if (leaving || !toggle.checked || !finished || !video.ended) { return; }
    var next = nextUnfinished();
    if (!next) {
      if (status) { status.textContent = '本课程的章节都已学完。'; }
      return;
    }
    leaving = true;
    var title = next.querySelector('.study-title');
    if (status) { status.textContent = '即将播放下一节：' + (title ? title.textContent.trim() : ''); }
    try { window.sessionStorage.setItem(KEY + '.play', next.dataset.chapterId); } catch (e) { /* plays on tap */ }
    setTimeout(function () { window.location.assign(next.getAttribute('href')); }, 1500);
  }

  root.addEventListener('study:finished', function () {
    finished = true;
    markCurrentFinished();
    maybeGoOn();
  });
  video.addEventListener('ended', function () {
    // The last report may land after the end: the finished event then moves on.
    setTimeout(maybeGoOn, 0);
  });

  // Arrived here by 自动播放: start playing (WeChat may still ask for a tap). The player swaps
  // in the session's signed media URL once its session opens, so play whenever media is ready
  // until playback is truly under way.
  var pending = null;
  try { pending = window.sessionStorage.getItem(KEY + '.play'); } catch (e) { pending = null; }
  if (pending === currentId) {
    try { window.sessionStorage.removeItem(KEY + '.play'); } catch (e) { /* ignore */ }
    if (toggle.checked) {
      var autoStart = true;
      var play = function () {
        if (!autoStart || !video.paused || video.ended) { return; }
        var played = video.play();
        if (played && played.catch) { played.catch(function () { /* needs a tap */ }); }
      };
      video.addEventListener('canplay', play);
      video.addEventListener('timeupdate', function () {
        if (video.currentTime > 1) { autoStart = false; }
      });
      if (video.readyState >= 3) { play(); }
    }
  }
})();
