/* siyu report: draw every chart from its JSON block and record, in #report-status, that ECharts drew it.
 * A chart counts as drawn when ECharts fired 'finished' and its canvas holds pixels that differ from
 * the background; the container then carries data-drawn="1" (else "0" with the reason in data-error). */
(function () {
  'use strict';
  var MIN_PAINTED = 200;
  var status = document.getElementById('report-status');
  var charts = [];
  var drawn = 0;

  function fail(box, id, reason) {
    if (box) {
      box.setAttribute('data-drawn', '0');
      box.setAttribute('data-error', reason);
    }
    window.__siyuReportError(id + ': ' + reason);
  }

  // Pixels of the chart's canvas that differ from its top-left (background) pixel.
  function painted(box) {
    var canvas = box.querySelector('canvas');
    if (!canvas || !canvas.width || !canvas.height) return 0;
    var px = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    var count = 0;
    for (var i = 4; i < px.length; i += 4) {
      if (px[i] !== px[0] || px[i + 1] !== px[1] || px[i + 2] !== px[2] || px[i + 3] !== px[3]) count++;
    }
    return count;
  }

  var specs = document.querySelectorAll('script.chart-spec');
  status.setAttribute('data-charts', String(specs.length));
  if (typeof window.echarts === 'undefined') {
    for (var k = 0; k < specs.length; k++) {
      var id = specs[k].getAttribute('data-chart');
      fail(document.getElementById(id), id, 'ECharts is not loaded');
    }
    return;
  }

  Array.prototype.forEach.call(specs, function (spec) {
    var id = spec.getAttribute('data-chart');
    var box = document.getElementById(id);
    if (!box) { fail(null, id, 'no chart container'); return; }
    try {
      var option = JSON.parse(spec.textContent);
      var chart = window.echarts.init(box, null, { renderer: 'canvas', locale: status.getAttribute('data-locale') });
      var onFinished = function () {
        chart.off('finished', onFinished);
        var count = painted(box);
        box.setAttribute('data-painted', String(count));
        if (count < MIN_PAINTED) { fail(box, id, 'canvas is blank'); return; }
        box.setAttribute('data-drawn', '1');
        drawn++;
        status.setAttribute('data-drawn', String(drawn));
      };
      chart.on('finished', onFinished);
      chart.setOption(option);
      charts.push(chart);
    } catch (e) {
      fail(box, id, String((e && e.message) || e));
    }
  });

  function resizeAll() { charts.forEach(function (c) { c.resize(); }); }
  window.addEventListener('resize', resizeAll);
  window.addEventListener('beforeprint', resizeAll);
})();
