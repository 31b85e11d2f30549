// The chapter player: reports what was played to the study ledger and shows its answers.
// The server decides what counts; this script only reports honestly and explains.
(function () {
  'use strict';
  var root = document.getElementById('study-player');
  if (!root) { return; }
  var video = document.getElementById('study-video');
  var statusEl = document.getElementById('study-status');
  var coveredEl = document.getElementById('study-covered');
  var coveredBar = document.getElementById('study-covered-bar');
  var checkEl = document.getElementById('study-check');
  var dialog = document.getElementById('study-question');
  var stemEl = document.getElementById('study-question-stem');
  var optionsEl = document.getElementById('study-question-options');
  var tipEl = document.getElementById('study-question-tip');

  var chapterId = Number(root.dataset.chapterId);
  var duration = Number(root.dataset.duration) || 1;
  var token = null;
  var seq = 0;
  var segmentStart = 0;   // where the part played since the last report began
  var lastTime = 0;       // the position before a seek
  var lastSent = 0;
  var heartbeatSeconds = 12;
  var minGapSeconds = 2;
  var inFlight = false;
  var stopped = false;
  var questionOpen = false;
  var timer = null;
  var resumePosition = 0;

  function setStatus(text, tone) {
    statusEl.textContent = text;
    statusEl.className = 'study-status' + (tone ? ' study-status_' + tone : '');
  }

  function post(url, body) {
    return fetch(url, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'Accept': 'application/json' },
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        return { status: response.status, data: data };
      });
    });
  }

  function showCovered(seconds, finished) {
    var percent = Math.min(100, Math.floor(seconds * 100 / duration));
    coveredEl.textContent = percent + '%';
    coveredBar.style.width = percent + '%';
    coveredEl.parentNode.setAttribute('aria-valuenow', percent);
    if (finished) { checkEl.hidden = false; }
  }

  function stop(message) {
    stopped = true;
    token = null;
    video.pause();
    setStatus(message, 'warn');
  }

  function start() {
    post(root.dataset.startUrl, { chapter_id: chapterId }).then(function (res) {
      if (res.status !== 201) {
        stop(res.data.message || '无法开始学习，请刷新页面重试。');
        return;
      }
      var data = res.data;
      token = data.token;
      seq = 0;
      stopped = false;
      heartbeatSeconds = data.heartbeat_seconds;
      minGapSeconds = data.min_heartbeat_seconds;
      lastSent = Date.now();
      resumePosition = data.resume_position;
      seekToResume();
      segmentStart = video.currentTime;
      showCovered(data.covered_seconds, data.finished);
      if (data.finished) {
        setStatus('本章节已学完，可以继续观看复习。', 'done');
      } else {
        setStatus(video.paused ? '点击播放开始学习，观看时长由系统自动记录。' : '正在计时。', video.paused ? '' : 'ok');
      }
      if (data.question) { showQuestion(data.question, ''); }
      if (timer) { clearInterval(timer); }
      timer = setInterval(function () { beat(null); }, heartbeatSeconds * 1000);
    }).catch(function () {
      setStatus('网络异常，正在重试…', 'warn');
      setTimeout(start, 5000);
    });
  }

  function seekToResume() {
    if (!resumePosition) { return; }
    if (video.readyState >= 1) {
      video.currentTime = resumePosition;
      lastTime = resumePosition;
      segmentStart = resumePosition;
      resumePosition = 0;
    }
  }

  function beat(positionBeforeSeek) {
    if (!token || stopped || inFlight) { return false; }
    if (Date.now() - lastSent < minGapSeconds * 1000) { return false; }
    var position = positionBeforeSeek === null ? video.currentTime : positionBeforeSeek;
    var body = {
      token: token,
      seq: ++seq,
      from: segmentStart,
      position: position,
      playing: !video.paused && !video.ended,
      rate: video.playbackRate
    };
    segmentStart = position;
    lastSent = Date.now();
    inFlight = true;
    post(root.dataset.heartbeatUrl, body).then(answerOf).catch(function () {
      setStatus('网络异常，本段时间可能不计入学时，请检查网络。', 'warn');
    }).then(function () { inFlight = false; });
    return true;
  }

  function answerOf(res) {
    var data = res.data;
    if (res.status === 200) {
      showCovered(data.covered_seconds, data.finished);
      if (data.question) {
        showQuestion(data.question, '');
      } else if (data.finished) {
        setStatus(data.counting ? '本章节已学完，已记入学习记录。' : data.message, 'done');
      } else {
        setStatus(data.counting ? '正在计时。' : data.message, data.counting ? 'ok' : 'warn');
      }
      if (data.finished) { checkEl.hidden = false; }
      return;
    }
    if (data.error === 'session_expired') {
      setStatus(data.message, 'warn');
      start();
    } else if (data.error === 'too_soon' || data.error === 'stale') {
      // Nothing lost that matters: the next report covers it.
    } else if (res.status === 503) {
      setStatus(data.message, 'warn');
    } else {
      stop(data.message || '学习记录出错，请刷新页面。');
    }
  }

  function showQuestion(question, tip) {
    questionOpen = true;
    video.pause();
    stemEl.textContent = question.stem;
    tipEl.textContent = tip;
    optionsEl.innerHTML = '';
    question.options.forEach(function (option, index) {
      var button = document.createElement('button');
      button.type = 'button';
      button.className = 'weui-btn weui-btn_default study-question__option';
      button.textContent = String.fromCharCode(65 + index) + '. ' + option;
      button.addEventListener('click', function () { answer(index); });
      optionsEl.appendChild(button);
    });
    dialog.hidden = false;
    setStatus('请先回答弹出的问题，回答正确后继续计时。', 'warn');
  }

  function answer(choice) {
    if (!token) { return; }
    post(root.dataset.answerUrl, { token: token, choice: choice }).then(function (res) {
      var data = res.data;
      if (res.status !== 200) {
        if (data.error === 'too_soon') { tipEl.textContent = data.message; return; }
        dialog.hidden = true;
        questionOpen = false;
        stop(data.message || '学习记录出错，请刷新页面。');
        return;
      }
      if (data.correct) {
        dialog.hidden = true;
        questionOpen = false;
        segmentStart = video.currentTime;
        lastSent = Date.now();
        setStatus('回答正确，继续计时。', 'ok');
        video.play();
      } else {
        showQuestion(data.question, data.message);
      }
    });
  }

  video.addEventListener('loadedmetadata', seekToResume);
  video.addEventListener('timeupdate', function () {
    if (!video.seeking) { lastTime = video.currentTime; }
  });
  video.addEventListener('seeking', function () {
    // Report what was played before the jump; the jump itself covers nothing.
    beat(lastTime);
    segmentStart = video.currentTime;
  });
  video.addEventListener('play', function () {
    if (questionOpen) { video.pause(); return; }
    segmentStart = video.currentTime;
    if (!stopped && token) { setStatus('正在计时。', 'ok'); }
  });
  video.addEventListener('pause', function () {
    beat(null);
    if (!stopped && !questionOpen && !video.ended) { setStatus('已暂停播放，暂停期间不计学时。', ''); }
  });
  video.addEventListener('ratechange', function () {
    beat(null);
    segmentStart = video.currentTime;
  });
  video.addEventListener('ended', function () { beat(null); });
  document.addEventListener('visibilitychange', function () {
    if (document.hidden) { video.pause(); }
  });

  start();
})();
