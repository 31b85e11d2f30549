// The chat page: menu taps, typed text and "scans" go to the simulator, which pushes them to
// the platform as WeChat would; replies and later messages appear as bubbles.
(function () {
  document.querySelectorAll('[data-submit-on-change]').forEach(function (field) {
    field.addEventListener('change', function () { field.form.submit(); });
  });
  var phone = document.querySelector('[data-chat]');
  if (!phone) return;
  var user = phone.getAttribute('data-user');
  var stateUrl = phone.getAttribute('data-api');
  var sendUrl = phone.getAttribute('data-send');
  var qrUrl = phone.getAttribute('data-qr');
  var messages = phone.querySelector('[data-messages]');
  var menuBox = phone.querySelector('[data-menu]');
  var menuBar = phone.querySelector('[data-menu-bar]');
  var inputForm = phone.querySelector('[data-input]');
  var followButton = phone.querySelector('[data-follow]');
  var webview = phone.querySelector('[data-webview]');
  var frame = phone.querySelector('[data-frame]');
  var lastXml = document.querySelector('[data-last-xml]');
  var posters = document.querySelector('[data-posters]');
  var subscribed = false;
  var feedSeen = 0;
  var openPopup = null;

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function scrollDown() { messages.scrollTop = messages.scrollHeight; }

  function openPage(url, title) {
    frame.src = url;
    webview.querySelector('[data-webview-title]').textContent = title || '网页';
    webview.hidden = false;
  }

  webview.querySelector('[data-close]').addEventListener('click', function () {
    webview.hidden = true;
    frame.src = 'about:blank';
  });

  function bubble(side, parts) {
    var row = el('div', 'sim-row sim-row_' + side);
    if (side === 'in') row.appendChild(el('span', 'sim-avatar sim-avatar_account', '人'));
    var box = el('div', 'sim-bubble sim-bubble_' + side);
    parts.forEach(function (part) {
      if (part.href) {
        var link = el('a', '', part.text);
        link.href = part.href;
        link.addEventListener('click', function (event) {
          event.preventDefault();
          openPage(part.href, part.text);
        });
        box.appendChild(link);
      } else {
        box.appendChild(document.createTextNode(part.text));
      }
    });
    row.appendChild(box);
    messages.appendChild(row);
    scrollDown();
    return box;
  }

  function notice(text, warn) {
    messages.appendChild(el('div', 'sim-notice' + (warn ? ' sim-notice_warn' : ''), text));
    scrollDown();
  }

  function showReply(reply) {
    if (!reply) return;
    if (reply.type === 'text') bubble('in', reply.parts || [{ text: reply.content }]);
    else if (reply.type === 'transfer') notice(reply.content);
    else if (reply.type === 'news') {
      reply.articles.forEach(function (article) {
        bubble('in', [{ text: article.title + '\n' + article.description + '\n' }, { text: '查看', href: article.url }]);
      });
    } else bubble('in', [{ text: reply.content || '' }]);
  }

  function showFeedItem(item) {
    if (item.kind === 'custom') {
      showReply(item.reply || { type: 'text', content: JSON.stringify(item.body || {}) });
      return;
    }
    var card = el('div', 'sim-card');
    card.setAttribute('data-template', item.template_id);
    var data = item.data || {};
    Object.keys(data).forEach(function (key) {
      var line = el('div', 'sim-card__line');
      line.appendChild(el('span', 'sim-card__key', key));
      line.appendChild(el('span', 'sim-card__value', (data[key] || {}).value || ''));
      card.appendChild(line);
    });
    if (item.url) {
      var more = el('a', 'sim-card__more', '详情 ›');
      more.href = item.url;
      more.addEventListener('click', function (event) { event.preventDefault(); openPage(item.url, '详情'); });
      card.appendChild(more);
    }
    var row = el('div', 'sim-row sim-row_in');
    row.appendChild(el('span', 'sim-avatar sim-avatar_account', '人'));
    var wrap = el('div', 'sim-card-wrap');
    wrap.appendChild(el('div', 'sim-card__title', '模板消息 · ' + item.template_id));
    wrap.appendChild(card);
    row.appendChild(wrap);
    messages.appendChild(row);
    scrollDown();
  }

  function send(payload) {
    payload.user = user;
    return fetch(sendUrl, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(payload)
    }).then(function (response) { return response.json(); }).then(function (result) {
      if (result.sent) lastXml.textContent = result.sent.xml;
      if (result.error) notice(result.error, true);
      else showReply(result.reply);
      return refresh();
    }).catch(function () { notice('模拟器无法连接', true); });
  }

  function closePopup() {
    if (openPopup) { openPopup.remove(); openPopup = null; }
  }

  function leaf(button) {
    closePopup();
    if (button.type === 'click') send({ action: 'click', key: button.key });
    else if (button.type === 'view') {
      send({ action: 'view', url: button.url });
      openPage(button.url, button.name);
    }
  }

  function renderMenu(menu) {
    menuBox.innerHTML = '';
    if (!menu.length) {
      menuBox.appendChild(el('span', 'sim-muted', '（公众号尚未创建菜单：flask --app wsgi wechat menu-push）'));
      return;
    }
    menu.forEach(function (button) {
      var slot = el('div', 'sim-menu__slot');
      var item = el('button', 'sim-menu__item', button.name);
      item.type = 'button';
      item.addEventListener('click', function () {
        if (!button.sub_button || !button.sub_button.length) { leaf(button); return; }
        var wasOpen = openPopup && openPopup.getAttribute('data-for') === button.name;
        closePopup();
        if (wasOpen) return;
        var popup = el('div', 'sim-popup');
        popup.setAttribute('data-for', button.name);
        button.sub_button.forEach(function (sub) {
          var subItem = el('button', 'sim-popup__item', sub.name);
          subItem.type = 'button';
          subItem.addEventListener('click', function () { leaf(sub); });
          popup.appendChild(subItem);
        });
        slot.appendChild(popup);
        openPopup = popup;
      });
      slot.appendChild(item);
      menuBox.appendChild(slot);
    });
  }

  function renderPosters(codes) {
    posters.innerHTML = '';
    if (!codes.length) { posters.appendChild(el('p', 'sim-muted', '暂无二维码。')); return; }
    codes.forEach(function (code) {
      var button = el('button', 'sim-poster');
      button.type = 'button';
      var img = el('img');
      img.src = qrUrl + '?ticket=' + encodeURIComponent(code.ticket);
      img.alt = '二维码 ' + code.scene;
      button.appendChild(img);
      button.appendChild(el('span', '', code.scene + (code.temporary ? '（临时）' : '')));
      button.addEventListener('click', function () { send({ action: 'scan', ticket: code.ticket }); });
      posters.appendChild(button);
    });
  }

  var menuRendered = false;
  function refresh() {
    return fetch(stateUrl + '?user=' + encodeURIComponent(user))
      .then(function (response) { return response.json(); })
      .then(function (data) {
        subscribed = data.subscribed;
        followButton.textContent = subscribed ? '取消关注' : '关注';
        if (!menuRendered || !openPopup) { renderMenu(data.menu); menuRendered = true; }
        renderPosters(data.qrcodes);
        data.feed.slice(feedSeen).forEach(showFeedItem);
        feedSeen = data.feed.length;
      });
  }

  followButton.addEventListener('click', function () {
    if (!subscribed) notice('你关注了公众号');
    send({ action: subscribed ? 'unsubscribe' : 'subscribe' });
  });

  phone.querySelectorAll('[data-switch]').forEach(function (button) {
    button.addEventListener('click', function () {
      closePopup();
      var typing = inputForm.hidden;
      inputForm.hidden = !typing;
      menuBar.hidden = typing;
      if (typing) inputForm.querySelector('input').focus();
    });
  });

  inputForm.addEventListener('submit', function (event) {
    event.preventDefault();
    var input = inputForm.querySelector('input');
    var text = input.value.trim();
    if (!text) return;
    bubble('out', [{ text: text }]);
    input.value = '';
    send({ action: 'text', content: text });
  });

  refresh().then(function () {
    // Earlier messages are history; only new ones are shown as they arrive.
  });
  setInterval(refresh, 3000);
})();
