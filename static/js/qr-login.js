// 扫码登录 on a PC: ask for a login code (a POST), show it, wait until the WeChat that scans it
// confirms, then finish the login with a POST of this page. A code lives five minutes.
(function () {
  var panel = document.querySelector('[data-qr-login]');
  if (!panel) { return; }
  var image = panel.querySelector('[data-qr-image]');
  var refresh = panel.querySelector('[data-qr-refresh]');
  var state = panel.querySelector('[data-qr-state]');
  var finish = panel.querySelector('[data-qr-finish]');
  var timer = null;
  var deadline = 0;

  function say(text) { state.textContent = text; }

  function expired() {
    clearTimeout(timer);
    image.hidden = true;
    refresh.hidden = false;
    refresh.textContent = '二维码已过期，点击刷新';
    say('二维码已过期，请刷新后重新扫码。');
  }

  function poll(statusUrl) {
    if (Date.now() > deadline) { expired(); return; }
    var request = new XMLHttpRequest();
    request.open('GET', statusUrl);
    request.setRequestHeader('Accept', 'application/json');
    request.onload = function () {
      var data = null;
      try { data = JSON.parse(request.responseText); } catch (e) { data = null; }
      if (data && data.state === 'confirmed') {
        say('已确认，正在登录…');
        finish.submit();
        return;
      }
      if (data && data.state === 'expired') { expired(); return; }
      if (data && data.state === 'unbound') {
        say('该微信尚未绑定学习账号：请按公众号的回复绑定后，刷新二维码再扫。');
      }
      timer = setTimeout(function () { poll(statusUrl); }, 1500);
    };
    request.onerror = function () { timer = setTimeout(function () { poll(statusUrl); }, 3000); };
    request.send();
  }

  function start() {
    clearTimeout(timer);
    refresh.disabled = true;
    say('正在获取二维码…');
    var request = new XMLHttpRequest();
    request.open('POST', panel.getAttribute('data-start-url'));
    request.setRequestHeader('X-CSRFToken', panel.getAttribute('data-csrf'));
    request.setRequestHeader('Accept', 'application/json');
    request.onload = function () {
      refresh.disabled = false;
      var data = null;
      try { data = JSON.parse(request.responseText); } catch (e) { data = null; }
      if (!data || !data.image_url) {
        say((data && data.error) || '暂时无法获取二维码，请使用密码登录。');
        return;
      }
      image.src = data.image_url;
      image.hidden = false;
      refresh.hidden = true;
      deadline = Date.now() + data.expires_in * 1000;
      say('请用已绑定账号的微信“扫一扫”，关注公众号后即可登录');
      timer = setTimeout(function () { poll(data.status_url); }, 1500);
    };
    request.onerror = function () { refresh.disabled = false; say('网络异常，请重试。'); };
    request.send();
  }

  refresh.addEventListener('click', start);
  start();
})();
