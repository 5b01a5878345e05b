/* charts.js - small SVG line charts for the timeline: one or more series
 * over time, y from zero, an optional marked point (the peak), and a
 * tooltip with every series' value at the time under the pointer. */
'use strict';

const CHART_COLOURS = ['#c2410c', '#1d4ed8', '#15803d', '#a21caf', '#b45309',
	'#0e7490', '#be123c', '#4d7c0f', '#6d28d9', '#0369a1', '#9f1239',
	'#3f6212', '#57534e'];

/* Round steps for an axis up to max: 1, 2 or 5 times a power of ten. */
function niceStep(max, ticks) {
	const raw = max / ticks;
	const p = Math.pow(10, Math.floor(Math.log10(raw)));
	const m = raw / p;
	return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}

/* The same for bytes: powers of two look right with KiB and MiB. */
function niceByteStep(max, ticks) {
	const raw = max / ticks;
	let step = 1;
	while (step < raw) step *= 2;
	return step;
}

/*
 * Draws a chart into container (replacing what was there).
 *   xs        times in ms, ascending
 *   series    [{ name, values }] (values parallel to xs)
 *   format    y value -> text;  bytes: y axis in powers of two
 *   marker    { index, label }: a point of series 0 to mark
 *   steps     values hold over the interval that ends at their time
 *             (rates per snapshot interval), from 0
 *   id        the svg's id
 */
function lineChart(container, { xs, series, format, bytes, marker, steps, id, height = 190 }) {
	const W = Math.max(360, container.clientWidth || 900), H = height;
	const left = 72, right = 16, top = 12, bottom = 24;
	const xmax = Math.max(1e-9, xs.length ? xs[xs.length - 1] : 1);
	let ymax = 0;
	for (const s of series)
		for (const v of s.values) ymax = Math.max(ymax, v);
	const step = ymax > 0 ? (bytes ? niceByteStep(ymax, 4) : niceStep(ymax, 4)) : 1;
	const ytop = Math.max(step, Math.ceil(ymax / step) * step);
	const X = t => left + (W - left - right) * t / xmax;
	const Y = v => top + (H - top - bottom) * (1 - v / ytop);
	const svg = el('svg:svg', { width: W, height: H, class: 'chart', id });

	for (let v = 0; v <= ytop + step / 2; v += step) {
		svg.append(el('svg:line', { x1: left, x2: W - right, y1: Y(v), y2: Y(v), class: 'grid' }),
			el('svg:text', { x: left - 6, y: Y(v) + 4, class: 'axis', 'text-anchor': 'end' }, format(v)));
	}
	const xstep = niceStep(xmax, 6);
	for (let t = 0; t <= xmax * 1.0001; t += xstep)
		svg.append(el('svg:text', { x: X(t), y: H - 6, class: 'axis', 'text-anchor': 'middle' }, fmtMs(t)));
	svg.append(el('svg:line', { x1: left, x2: W - right, y1: Y(0), y2: Y(0), class: 'axis-line' }));

	series.forEach((s, i) => {
		const colour = s.colour || CHART_COLOURS[i % CHART_COLOURS.length];
		const pts = s.values.map((v, k) => {
			const at = `${X(xs[k]).toFixed(1)},${Y(v).toFixed(1)}`;
			return steps ? `${X(k ? xs[k - 1] : 0).toFixed(1)},${Y(v).toFixed(1)} ${at}` : at;
		}).join(' ');
		svg.append(el('svg:polyline', { points: pts, fill: 'none', stroke: colour,
			'stroke-width': series.length > 1 ? 1.5 : 2, class: 'series', 'data-name': s.name }));
		if (s.values.length === 1 && !steps)
			svg.append(el('svg:circle', { cx: X(xs[0]), cy: Y(s.values[0]), r: 3, fill: colour }));
	});
	if (marker && series.length && marker.index < xs.length) {
		const x = X(xs[marker.index]), y = Y(series[0].values[marker.index]);
		const onLeft = x > W * 0.7;
		svg.append(el('svg:circle', { cx: x, cy: y, r: 5, class: 'peak-marker' }),
			el('svg:text', { x: onLeft ? x - 9 : x + 9, y: Math.max(y - 8, top + 10),
				class: 'peak-label', 'text-anchor': onLeft ? 'end' : 'start' }, marker.label));
	}
	const cursor = el('svg:line', { y1: top, y2: H - bottom, class: 'cursor', visibility: 'hidden' });
	svg.append(cursor);
	svg.addEventListener('mousemove', e => {
		const r = svg.getBoundingClientRect();
		const t = (e.clientX - r.left - left) / (W - left - right) * xmax;
		let k = 0;
		for (let i = 1; i < xs.length; i++)
			if (Math.abs(xs[i] - t) < Math.abs(xs[k] - t)) k = i;
		if (!xs.length) return;
		cursor.setAttribute('x1', X(xs[k]));
		cursor.setAttribute('x2', X(xs[k]));
		cursor.setAttribute('visibility', 'visible');
		const lines = [`at ${fmtMs(xs[k])}`];
		for (const s of series)
			lines.push(`${s.name}: ${format(s.values[k])} (${fmtExact(Math.round(s.values[k]))})`);
		showTooltip(e, lines.slice(0, 16));
	});
	svg.addEventListener('mouseleave', () => {
		cursor.setAttribute('visibility', 'hidden');
		hideTooltip();
	});
	const legend = series.length > 1 ? el('div', { class: 'legend' },
		series.map((s, i) => el('span', { class: 'legend-item' },
			el('span', { class: 'swatch', style: `background:${s.colour || CHART_COLOURS[i % CHART_COLOURS.length]}` }),
			s.name))) : null;
	container.replaceChildren(svg, legend || '');
}
