// The 缴费截图 uploader: a preview of the chosen picture before the form is sent, and a
// message in Chinese when the file is not a picture or is too large (the server checks again).
(function () {
  'use strict';
  var TYPES = ['image/jpeg', 'image/png', 'image/webp'];
  document.querySelectorAll('[data-uploader]').forEach(function (box) {
    var input = box.querySelector('input[type=file]');
    var files = box.querySelector('[data-uploader-files]');
    var count = box.querySelector('[data-uploader-count]');
    var inputBox = box.querySelector('[data-uploader-box]');
    var cell = box.closest('.weui-cells');
    var error = cell ? cell.querySelector('[data-uploader-error]') : null;
    var maxBytes = parseInt(box.getAttribute('data-max-bytes'), 10) || 0;
    var url = null;
    if (!input || !files) { return; }

    function say(message) {
      if (!error) { return; }
      error.textContent = message;
      error.hidden = !message;
    }

    function clearPreview() {
      if (url) { URL.revokeObjectURL(url); url = null; }
      files.textContent = '';
      if (count) { count.textContent = '0/1'; }
      if (inputBox) { inputBox.hidden = false; }
    }

    function preview(file) {
      clearPreview();
      url = URL.createObjectURL(file);
      var item = document.createElement('li');
      item.className = 'h5-uploader__file';
      var img = document.createElement('img');
      img.className = 'h5-uploader__img';
      img.alt = '缴费截图预览';
      img.src = url;
      var remove = document.createElement('button');
      remove.type = 'button';
      remove.className = 'h5-uploader__remove';
      remove.setAttribute('aria-label', '删除这张截图');
      remove.textContent = '×';
      remove.addEventListener('click', function () {
        input.value = '';
        clearPreview();
        say('');
      });
      item.appendChild(img);
      item.appendChild(remove);
      files.appendChild(item);
      if (count) { count.textContent = '1/1'; }
      if (inputBox) { inputBox.hidden = true; }
    }

    input.addEventListener('change', function () {
      var file = input.files && input.files[0];
      if (!file) { clearPreview(); return; }
      if (TYPES.indexOf(file.type) < 0) {
        input.value = '';
        clearPreview();
        say('只能上传图片（JPG、PNG格式的缴费截图），请重新选择。');
        return;
      }
      if (maxBytes && file.size > maxBytes) {
        input.value = '';
        clearPreview();
        say('截图不能超过' + Math.round(maxBytes / 1048576) + 'MB，请压缩后重新选择。');
        return;
      }
      say('');
      preview(file);
    });
  });
})();
