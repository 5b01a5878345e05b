/* common.js - what both poolscout pages use: the embedded document,
 * number formats (the same units as the text views), a small DOM
 * builder, sortable tables and the one tooltip. Plain browser JavaScript,
 * no library; the page loads nothing from anywhere. */
'use strict';

/* The JSON document poolscout embedded in the page. */
function loadData() {
	return JSON.parse(document.getElementById('poolscout-data').textContent);
}

/* ---- numbers ------------------------------------------------------------ */

const METRICS = ['alloc_objects', 'alloc_space', 'inuse_objects', 'inuse_space'];
const METRIC_TITLES = {
	alloc_objects: 'allocations made',
	alloc_space: 'bytes allocated',
	inuse_objects: 'objects live at exit',
	inuse_space: 'bytes live at exit',
};

function isBytesMetric(metric) {
	return metric.endsWith('_space');
}

/* 1234 -> "1234", 12345 -> "12.3k" (as fmt_count in units.c) */
function fmtCount(n) {
	const neg = n < 0;
	let v = Math.abs(n), i = 0;
	if (v < 10000)
		return (neg ? '-' : '') + v.toFixed(0);
	while (v >= 1000 && i < 5) {
		v /= 1000;
		i++;
	}
	const digits = v < 10 ? 2 : v < 100 ? 1 : 0;
	return (neg ? '-' : '') + v.toFixed(digits) + ' kMGTP'[i];
}

/* 1536 -> "1.50 KiB" (as fmt_bytes in units.c) */
function fmtBytes(n) {
	const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
	const neg = n < 0;
	let v = Math.abs(n), i = 0;
	while (v >= 1024 && i < 4) {
		v /= 1024;
		i++;
	}
	const s = i === 0 ? v.toFixed(0) + ' B'
		: v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0) + ' ' + units[i];
	return (neg ? '-' : '') + s;
}

function fmtNs(ns) {
	if (ns < 1e3) return ns.toFixed(0) + ' ns';
	if (ns < 1e6) return +(ns / 1e3).toPrecision(3) + ' us';
	if (ns < 1e9) return +(ns / 1e6).toPrecision(3) + ' ms';
	return +(ns / 1e9).toPrecision(3) + ' s';
}

function fmtMs(ms) {
	return fmtNs(ms * 1e6);
}

/* A share 0..1 as a percentage with enough digits to compare. */
function fmtPct(x) {
	const p = x * 100;
	return (Math.abs(p) >= 10 ? p.toFixed(1) : p.toFixed(2)) + '%';
}

/* Per-unit values keep their fractions: "4.00" allocations per request. */
function fmtAmount(v, perUnit) {
	if (perUnit && Math.abs(v) < 10000)
		return v.toFixed(Math.abs(v) < 100 ? 2 : 1);
	return fmtCount(v);
}

/* The value of a metric in its unit, short. */
function fmtMetric(v, metric, perUnit) {
	return isBytesMetric(metric) ? fmtBytes(v) : fmtAmount(v, perUnit);
}

/* Every digit: 416,004 (fractions to 3 places). */
function fmtExact(v) {
	return Number.isInteger(v) ? v.toLocaleString('en-US')
		: v.toLocaleString('en-US', { maximumFractionDigits: 3 });
}

function fmtSigned(text, v) {
	return (v > 0 ? '+' : '') + text;
}

function baseName(path) {
	if (!path) return '';
	const i = path.lastIndexOf('/');
	return i < 0 ? path : path.slice(i + 1);
}

/* "file.c:37"; without line information the module and the call's
 * address, "libfoo.so at 0x1c65e6", when the data has it (a ranked site:
 * two calls in one function are two sites, as the text report names
 * them), else the module's name. */
function fileLine(where) {
	if (where.file)
		return baseName(where.file) + ':' + where.line;
	const module = where.module ? baseName(where.module) : '?';
	return typeof where.offset === 'number' ? `${module} at 0x${where.offset.toString(16)}` : module;
}

/* Matches text literally inside a RegExp. */
function escapeRegex(text) {
	return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/* Says when the page holds only the largest stacks, and how much of
 * each metric they cover. */
function stackCutNote(out, cut, what, id) {
	if (cut.shown >= cut.total)
		return;
	const shares = METRICS.map(m => `${fmtPct(cut.shown_share[m])} of ${m}`).join(', ');
	out.append(el('p', { class: 'warning', id },
		`${what} holds the ${fmtExact(cut.shown)} largest of ${fmtExact(cut.total)} ` +
		`stacks, to keep this page small: ${shares}.`));
}

/* ---- DOM ----------------------------------------------------------------- */

/* el('td', {class: 'num', 'data-value': 3, onclick: f}, 'text', node, ...) */
function el(tag, attrs, ...children) {
	const svg = tag.startsWith('svg:');
	const node = svg ? document.createElementNS('http://www.w3.org/2000/svg', tag.slice(4))
		: document.createElement(tag);
	for (const [k, v] of Object.entries(attrs || {})) {
		if (v === undefined || v === null || v === false)
			continue;
		if (k.startsWith('on'))
			node.addEventListener(k.slice(2), v);
		else if (k === 'text')
			node.textContent = v;
		else
			node.setAttribute(k, v === true ? '' : String(v));
	}
	for (const c of children.flat()) {
		if (c === undefined || c === null || c === false)
			continue;
		node.append(c instanceof Node ? c : String(c));
	}
	return node;
}

/* A number cell: short text, the exact value on hover and in data-value. */
function numCell(v, text, exactText) {
	return el('td', { class: 'num', 'data-value': v, title: exactText || fmtExact(v) },
		text);
}

/* ---- the tooltip ---------------------------------------------------------- */

let tooltipNode = null;

/* Shows lines (strings; the first in bold) near the pointer. */
function showTooltip(event, lines) {
	if (!tooltipNode) {
		tooltipNode = el('div', { id: 'tooltip', role: 'tooltip' });
		document.body.append(tooltipNode);
	}
	tooltipNode.replaceChildren(...lines.map((l, i) => el('div', { class: i ? '' : 'tip-title' }, l)));
	tooltipNode.style.display = 'block';
	const pad = 14, w = tooltipNode.offsetWidth, h = tooltipNode.offsetHeight;
	let x = event.clientX + pad, y = event.clientY + pad;
	if (x + w > window.innerWidth) x = Math.max(0, event.clientX - w - pad);
	if (y + h > window.innerHeight) y = Math.max(0, event.clientY - h - pad);
	tooltipNode.style.left = x + 'px';
	tooltipNode.style.top = y + 'px';
}

function hideTooltip() {
	if (tooltipNode)
		tooltipNode.style.display = 'none';
}

/* ---- sortable tables ------------------------------------------------------- */

/*
 * Fills table with rows, one per item, under headers that sort on click
 * (numbers largest first, text A to Z; a second click reverses).
 *   columns: [{ label, title, sort: item => number|string, cell: item => <td>,
 *               numeric (default true), ascendingFirst }]
 *   opts.rowAttrs(item)  attributes of each <tr>
 *   opts.detail(item)    content of a row shown under an item's row
 *                        while it is expanded (toggle with expand())
 * Returns { expand(item, open), rows() }.
 */
function sortableTable(table, columns, items, opts = {}) {
	let order = items.slice(), sortCol = -1, descending = true;
	const open = new Set();
	const head = el('tr', {});
	columns.forEach((c, i) => {
		const th = el('th', { title: c.title, tabindex: 0, scope: 'col',
			class: c.numeric !== false ? 'num' : '' }, c.label);
		const sortBy = () => {
			descending = sortCol === i ? !descending
				: c.numeric !== false && !c.ascendingFirst;
			sortCol = i;
			const key = c.sort;
			order = items.slice().sort((a, b) => {
				const x = key(a), y = key(b);
				const cmp = typeof x === 'string' ? x.localeCompare(y) : x - y;
				return descending ? -cmp : cmp;
			});
			head.querySelectorAll('th').forEach(h => h.removeAttribute('aria-sort'));
			th.setAttribute('aria-sort', descending ? 'descending' : 'ascending');
			render();
		};
		th.addEventListener('click', sortBy);
		th.addEventListener('keydown', e => { if (e.key === 'Enter') sortBy(); });
		head.append(th);
	});
	const tbody = el('tbody', {});
	table.replaceChildren(el('thead', {}, head), tbody);

	function render() {
		const rows = [];
		for (const item of order) {
			const tr = el('tr', opts.rowAttrs ? opts.rowAttrs(item) : {},
				columns.map(c => c.cell(item)));
			rows.push(tr);
			if (opts.detail && open.has(item)) {
				tr.classList.add('expanded');
				rows.push(el('tr', { class: 'detail' },
					el('td', { colspan: columns.length }, opts.detail(item))));
			}
		}
		tbody.replaceChildren(...rows);
	}
	render();
	return {
		expand(item, wantOpen) {
			if (wantOpen === undefined) wantOpen = !open.has(item);
			if (wantOpen) open.add(item); else open.delete(item);
			render();
		},
		isOpen: item => open.has(item),
	};
}

/* A row of buttons of which one is pressed; onChange(value). */
function buttonGroup(values, labels, current, onChange, attrs = {}) {
	const group = el('div', Object.assign({ class: 'buttons', role: 'group' }, attrs));
	for (const v of values) {
		const b = el('button', { type: 'button', 'data-value': v,
			'aria-pressed': v === current ? 'true' : 'false' }, labels[v] || v);
		b.addEventListener('click', () => {
			group.querySelectorAll('button').forEach(x =>
				x.setAttribute('aria-pressed', x === b ? 'true' : 'false'));
			onChange(v);
		});
		group.append(b);
	}
	return group;
}
