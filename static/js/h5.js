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
  // 在线客服: inside WeChat the page closes back to the official account's chat.
  document.querySelectorAll('[data-close-to-chat]').forEach(function (button) {
    button.addEventListener('click', function () {
      if (window.WeixinJSBridge && window.WeixinJSBridge.call) {
        window.WeixinJSBridge.call('closeWindow');
        return;
      }
      var tip = document.querySelector('[data-close-to-chat-tip]');
      if (tip) { tip.hidden = false; }
    });
  });
  // A text-message code's send button counts down the server's 60 s wait before another.
  document.querySelectorAll('.h5-code-button[data-wait]').forEach(function (button) {
    var left = parseInt(button.getAttribute('data-wait'), 10) || 0;
    var label = button.getAttribute('data-label') || button.textContent;
    function show() {
      if (left > 0) {
        button.disabled = true;
        button.classList.add('weui-btn_disabled');
        button.textContent = left + ' 秒后可重新获取';
        left -= 1;
        setTimeout(show, 1000);
      } else {
        button.disabled = false;
        button.classList.remove('weui-btn_disabled');
        button.textContent = label;
      }
    }
    show();
  });
})();
