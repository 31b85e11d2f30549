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
  // What was played and not yet reported: closed segments [from, to], oldest first, and the
  // open one (from segmentStart to the current position) while the video plays. A segment is
  // only ever removed from the queue by a report the ledger took; a refused, too early or
  // lost report leaves it for the next one. Nothing is ever reset without being queued.
  var queue = [];
  var segmentStart = null;
  var lastTime = 0;       // the position before a seek
  var lastSent = 0;
  var heartbeatSeconds = 12;
  var minGapSeconds = 2;
  var maxQueued = 12;     // the ledger takes 12 queued segments besides the last one
  var inFlight = false;
  var sealed = 0;         // queued segments a report in flight carries: not to be extended
  var retry = null;
  var jumpRetried = false;
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
    if (finished) {
      checkEl.hidden = false;
      root.dispatchEvent(new CustomEvent('study:finished', { bubbles: true }));
    }
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
      // A new session's budget starts now: what an expired one left unreported is gone.
      queue = [];
      // Media proof: the media is fetched through a URL signed for this session.
      if (data.media_url && video.getAttribute('src') !== data.media_url) {
        var at = video.currentTime;
        video.src = data.media_url;
        if (at && !data.resume_position) { resumePosition = at; }
      }
      resumePosition = data.resume_position || resumePosition;
      seekToResume();
      segmentStart = playingNow() ? video.currentTime : null;
      showCovered(data.covered_seconds, data.finished);
      if (data.finished) {
        setStatus('本章节已学完，可以继续观看复习。', 'done');
      } else {
        setStatus(video.paused ? '点击播放开始学习，观看时长由系统自动记录。' : '正在计时。', video.paused ? '' : 'ok');
      }
      if (data.question) { showQuestion(data.question, ''); }
      if (timer) { clearTimeout(timer); }
      schedule();
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
      if (segmentStart !== null) { segmentStart = resumePosition; }
      resumePosition = 0;
    }
  }

  function playingNow() {
    return !video.paused && !video.ended && !questionOpen;
  }

  // Close the open segment at ``position`` and queue it; open the next one there if the
  // video still plays.
  function closeSegment(position, reopen) {
    if (segmentStart !== null && position > segmentStart) {
      var last = queue[queue.length - 1];
      if (last && queue.length > sealed && last[1] === segmentStart &&
          position - last[0] <= heartbeatSeconds) {
        last[1] = position;  // the same stretch, split only at report times
      } else {
        queue.push([segmentStart, position]);
      }
      if (!inFlight && queue.length > maxQueued + 1) { queue.splice(0, queue.length - maxQueued - 1); }
    }
    segmentStart = reopen ? position : null;
  }

  // Reports come at random within ±15% of the heartbeat period: a person's player has no
  // fixed rhythm, and a script's fixed timer then stands out (machine-regular timing).
  function schedule() {
    timer = setTimeout(tick, heartbeatSeconds * 1000 * (0.85 + 0.3 * Math.random()));
  }

  function tick() {
    schedule();
    if (playingNow()) { closeSegment(video.currentTime, true); }
    beat();
  }

  // Send what the queue holds; too early after the previous report, try again once allowed.
  function beat() {
    if (!token || stopped || inFlight) { return false; }
    var wait = minGapSeconds * 1000 - (Date.now() - lastSent);
    if (wait > 0) {
      if (!retry) { retry = setTimeout(function () { retry = null; beat(); }, wait + 50); }
      return false;
    }
    var sent = queue.slice(0, maxQueued + 1);
    var lastSegment = sent.length ? sent[sent.length - 1] : [video.currentTime, video.currentTime];
    var body = {
      token: token,
      seq: ++seq,
      from: lastSegment[0],
      position: lastSegment[1],
      // The segments were played; with nothing to report the video is not playing.
      playing: sent.length > 0,
      rate: video.playbackRate
    };
    if (sent.length > 1) { body.queued = sent.slice(0, -1); }
    lastSent = Date.now();
    inFlight = true;
    sealed = sent.length;
    var sentToken = token;
    post(root.dataset.heartbeatUrl, body).then(function (res) {
      inFlight = false;
      sealed = 0;
      if (sentToken !== token) { return; }
      var reason = res.status === 200 ? res.data.reason : '';
      var taken = res.status === 200 && reason !== 'question' && reason !== 'question_timeout';
      // More than the wall time allowed (a reply so slow that the budget lagged): the ledger
      // carries the unspent time, so the same segments are offered once more before they go.
      if (taken && reason === 'jump' && !jumpRetried) {
        jumpRetried = true;
        taken = false;
      } else if (taken) {
        jumpRetried = false;
      }
      if (taken) { queue.splice(0, sent.length); }
      answerOf(res);
    }).catch(function () {
      inFlight = false;
      sealed = 0;
      setStatus('网络异常，已播放的内容会在网络恢复后补报。', 'warn');
    });
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

  var questionId = '';

  function showQuestion(question, tip) {
    if (questionOpen && !tip && question.id && question.id === questionId) {
      return;  // a report names the question already shown: the learner goes on reading it
    }
    questionOpen = true;
    questionId = question.id || '';
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
    post(root.dataset.answerUrl, { token: token, choice: choice, question_id: questionId }).then(function (res) {
      var data = res.data;
      if (res.status !== 200) {
        if (data.error === 'too_soon' || data.error === 'locked' || data.error === 'stale') {
          tipEl.textContent = data.message;
          return;
        }
        dialog.hidden = true;
        questionOpen = false;
        stop(data.message || '学习记录出错，请刷新页面。');
        return;
      }
      if (data.correct) {
        dialog.hidden = true;
        questionOpen = false;
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
    // What was played before the jump is queued; the jump itself covers nothing.
    closeSegment(lastTime, false);
  });
  video.addEventListener('seeked', function () {
    lastTime = video.currentTime;
    if (playingNow()) { segmentStart = video.currentTime; }
  });
  video.addEventListener('playing', function () {
    if (questionOpen) { video.pause(); return; }
    if (segmentStart === null) { segmentStart = video.currentTime; }
    if (!stopped && token) { setStatus('正在计时。', 'ok'); }
  });
  video.addEventListener('pause', function () {
    closeSegment(video.currentTime, false);
    beat();
    if (!stopped && !questionOpen && !video.ended) { setStatus('已暂停播放，暂停期间不计学时。', ''); }
  });
  video.addEventListener('ratechange', function () {
    closeSegment(video.currentTime, playingNow());
    beat();
  });
  video.addEventListener('ended', function () {
    closeSegment(video.currentTime, false);
    beat();
  });
  document.addEventListener('visibilitychange', function () {
    if (document.hidden) { video.pause(); }
  });

  start();
})();
