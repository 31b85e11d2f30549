// 在线客服: inside WeChat the page closes back to the official account's chat.
(function () {
  'use strict';
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
})();
