// A text-message code's send button counts down the server's 60 s wait before another.
(function () {
  'use strict';
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
