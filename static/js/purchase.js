// Purchase pages: the invoice choice, WeixinJSBridge payment, and polling an order until paid
// (after paying, or while a WeChat Pay QR code waits to be scanned).
(function () {
  // 立即申请 shows the invoice fields; a unit title shows the unit's name and credit code.
  var choice = document.querySelector('[data-invoice-choice]');
  var fields = document.querySelector('[data-invoice-fields]');
  function refreshInvoice() {
    var now = document.querySelector('input[name=invoice_choice]:checked');
    fields.hidden = !now || now.value !== 'now';
    var type = document.querySelector('input[name=title_type]:checked') ||
      document.querySelector('input[name=title_type]');
    var unit = document.querySelector('[data-unit-title]');
    if (unit) { unit.hidden = !type || type.value !== 'unit'; }
  }
  if (choice && fields) {
    document.querySelectorAll('input[name=invoice_choice], input[name=title_type]').forEach(
      function (input) { input.addEventListener('change', refreshInvoice); });
    refreshInvoice();
  }

  var message = document.querySelector('[data-pay-message]');
  function say(text) { if (message) { message.textContent = text; } }

  // Inside WeChat: the signed JSAPI parameters go to WeixinJSBridge.
  var button = document.querySelector('[data-jsapi]');
  if (button) {
    var params = JSON.parse(button.getAttribute('data-jsapi'));
    var pay = function () {
      WeixinJSBridge.invoke('getBrandWCPayRequest', params, function (res) {
        if (res.err_msg === 'get_brand_wcpay_request:ok') {
          location.href = button.getAttribute('data-done');
        } else if (res.err_msg === 'get_brand_wcpay_request:cancel') {
          say('已取消支付，可再次点击“微信支付”。');
        } else {
          say('支付未完成，请稍后重试（' + res.err_msg + '）。');
        }
      });
    };
    var start = function () {
      if (typeof WeixinJSBridge === 'undefined') {
        document.addEventListener('WeixinJSBridgeReady', pay, false);
      } else {
        pay();
      }
    };
    button.addEventListener('click', start);
    // The page was reached by tapping 微信支付 (the POST that prepaid): open the sheet at once.
    if (button.hasAttribute('data-autostart')) { start(); }
  }

  // After paying, or while a QR code waits to be scanned: ask our server until the order is
  // paid; now and then (every few tries, data-query-every) it asks the provider too.
  var waiting = document.querySelector('[data-status-url]');
  if (waiting) {
    var tries = 0;
    var limit = parseInt(waiting.getAttribute('data-status-tries') || '40', 10);
    var queryEvery = parseInt(waiting.getAttribute('data-query-every') || '1', 10);
    var note = waiting.querySelector('[data-pay-waiting]') || waiting;
    var tick = function () {
      tries += 1;
      var ask = tries > 2 && tries % queryEvery === 0;
      var request = new XMLHttpRequest();
      request.open('GET', waiting.getAttribute('data-status-url') + (ask ? '?query=1' : ''));
      request.setRequestHeader('Accept', 'application/json');
      request.onload = function () {
        var data = null;
        try { data = JSON.parse(request.responseText); } catch (e) { data = null; }
        if (data && (data.paid || data.status !== 'pending')) {
          location.replace(waiting.getAttribute('data-done-url'));
        } else if (tries < limit) {
          setTimeout(tick, 1500);
        } else {
          note.textContent = '暂未收到支付结果。如已付款，请稍后刷新本页；如有疑问请联系客服 400-023-9229。';
          var recheck = document.querySelector('[data-pay-recheck]');
          if (recheck) { recheck.hidden = false; }
        }
      };
      request.onerror = function () { if (tries < limit) { setTimeout(tick, 3000); } };
      request.send();
    };
    setTimeout(tick, 1000);
  }
})();
