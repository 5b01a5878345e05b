/* flame.js - an interactive flame graph in SVG, of one profile or of the
 * difference between two.
 *
 * Frames are merged by function name along each call path, root at the
 * top (the program's entry; or, inverted, the allocation site with its
 * callers below). A frame's width is its value for the chosen metric.
 * Click a frame to zoom into it (its ancestors stay, dimmed; click one to
 * zoom out), hover for exact numbers, type in the search box to light up
 * every frame whose name matches (a regular expression, or plain text)
 * with the share of the total they hold, counting nested matches once.
 *
 * In a differential graph each frame has a before and an after value;
 * its width is one of them (a button chooses) and its colour the change:
 * red grown, blue shrunk, the deeper the more it changed relatively.
 *
 * The stacks come from the page's document: frames leaf (the site)
 * first, with the four values (html.c).
 */
'use strict';

const FLAME_ROW = 18;      /* px per frame row */
const FLAME_MIN_PX = 0.8;  /* narrower frames are not drawn */
const FLAME_CHAR_PX = 6.6; /* average glyph width of the frame font */

class FlameNode {
	constructor(name, frame, parent) {
		this.name = name;
		this.file = frame ? frame.file : null;
		this.line = frame ? frame.line : 0;
		this.module = frame ? frame.module : null;
		this.parent = parent;
		this.children = new Map();
		this.value = [0, 0]; /* per side: [before or only, after] */
		this.self = [0, 0];  /* of it, allocated in this frame itself */
	}

	child(frame) {
		let c = this.children.get(frame.function);
		if (!c) {
			c = new FlameNode(frame.function, frame, this);
			this.children.set(frame.function, c);
		}
		return c;
	}

	path() {
		const names = [];
		for (let n = this; n.parent; n = n.parent)
			names.unshift(n.name);
		return names;
	}
}

class FlameGraph {
	/*
	 * container: an element to fill. opts:
	 *   id        prefix of the controls' ids (id-search, id-match, ...)
	 *   diff      true: two sides, setStacks(before, after)
	 *   perUnit   values are per unit of work (formats only)
	 *   divisors  [before, after]: values are divided by these
	 *   metric    the metric shown first
	 */
	constructor(container, opts) {
		this.opts = Object.assign({ id: 'flame', diff: false, perUnit: false,
			divisors: [1, 1], metric: 'alloc_objects' }, opts);
		this.metric = this.opts.metric;
		this.inverted = false;
		this.widthSide = 0;
		this.pattern = null;
		this.zoomPath = [];
		this.sides = [[], []];
		this.buildControls(container);
		let pending = 0;
		window.addEventListener('resize', () => {
			clearTimeout(pending);
			pending = setTimeout(() => this.render(), 150);
		});
	}

	buildControls(container) {
		const id = this.opts.id;
		const metricButtons = this.metricButtons = buttonGroup(METRICS, {}, this.metric, m => {
			this.metric = m;
			this.rebuild();
		}, { id: id + '-metric', 'aria-label': 'metric' });
		const orientation = buttonGroup(['entry', 'site'],
			{ entry: 'root: program entry', site: 'root: allocation site' },
			'entry', v => {
				this.inverted = v === 'site';
				this.zoomPath = [];
				this.rebuild();
			}, { id: id + '-orientation', 'aria-label': 'orientation' });
		const controls = [metricButtons, orientation];
		if (this.opts.diff)
			controls.push(buttonGroup(['0', '1'],
				{ 0: 'width: before', 1: 'width: after' }, '0', v => {
					this.widthSide = +v;
					this.render();
				}, { id: id + '-width', 'aria-label': 'frame width' }));
		this.searchBox = el('input', { type: 'search', id: id + '-search',
			placeholder: 'search functions (regex)', 'aria-label': 'search functions',
			spellcheck: 'false' });
		this.searchBox.addEventListener('input', () => this.search(this.searchBox.value));
		this.matchNode = el('span', { id: id + '-match', class: 'match-result',
			'aria-live': 'polite' });
		this.resetButton = el('button', { type: 'button', id: id + '-reset',
			onclick: () => this.zoomTo(null) }, 'reset zoom');
		this.noteNode = el('p', { class: 'note', id: id + '-note' });
		this.svgHolder = el('div', { class: 'flame-holder', id: id + '-graph' });
		container.append(el('div', { class: 'controls' }, controls),
			el('div', { class: 'controls' }, this.searchBox, this.matchNode,
				this.resetButton),
			this.noteNode, this.svgHolder);
		this.svgHolder.addEventListener('mousemove', e => this.hover(e));
		this.svgHolder.addEventListener('mouseleave', hideTooltip);
		this.svgHolder.addEventListener('click', e => {
			const n = this.nodeAt(e);
			if (n) this.zoomTo(n);
		});
	}

	/* stacks: the only side, or before and after of a differential graph. */
	setStacks(before, after) {
		this.sides = [before || [], after || []];
		this.rebuild();
	}

	setMetric(metric) {
		this.metricButtons.querySelector(`button[data-value="${metric}"]`).click();
	}

	/* The call tree of every stack for the current metric. */
	rebuild() {
		const root = new FlameNode('all', null, null);
		this.sides.forEach((stacks, side) => {
			const div = this.opts.divisors[side] || 1;
			for (const s of stacks) {
				const v = s[this.metric] / div;
				if (!(v > 0))
					continue;
				let node = root;
				node.value[side] += v;
				const n = s.frames.length;
				for (let i = 0; i < n; i++) {
					node = node.child(s.frames[this.inverted ? i : n - 1 - i]);
					node.value[side] += v;
				}
				node.self[side] += v;
			}
		});
		this.root = root;
		this.render();
		this.search(this.searchBox.value);
	}

	width(n) {
		return n.value[this.opts.diff ? this.widthSide : 0];
	}

	zoomTo(node) {
		this.zoomPath = node && node !== this.root ? node.path() : [];
		this.render();
	}

	zoomNode() {
		let n = this.root;
		for (const name of this.zoomPath) {
			const c = n.children.get(name);
			if (!c || !(this.width(c) > 0)) break;
			n = c;
		}
		return n;
	}

	render() {
		if (!this.root) return;
		const W = Math.max(480, this.svgHolder.clientWidth || 960);
		const zoom = this.zoomNode();
		const frames = [];
		const chain = [];
		for (let n = zoom.parent; n; n = n.parent)
			chain.unshift(n);
		chain.forEach((n, depth) => frames.push({ node: n, x: 0, w: W, depth, ancestor: true }));
		const scale = this.width(zoom) > 0 ? W / this.width(zoom) : 0;
		let hidden = 0;
		const place = (n, x, depth) => {
			const w = this.width(n) * scale;
			if (w < FLAME_MIN_PX) {
				if (this.width(n) > 0) hidden++;
				return;
			}
			frames.push({ node: n, x, w, depth });
			const kids = [...n.children.values()].sort((a, b) =>
				this.width(b) - this.width(a) || a.name.localeCompare(b.name));
			for (const c of kids) {
				place(c, x, depth + 1);
				x += this.width(c) * scale;
			}
		};
		place(zoom, 0, chain.length);
		const depth = frames.reduce((d, f) => Math.max(d, f.depth), 0) + 1;
		const svg = el('svg:svg', { width: W, height: depth * FLAME_ROW,
			class: 'flame', role: 'img', 'aria-label': 'flame graph' });
		const total = this.width(this.root);
		this.frames = frames;
		frames.forEach((f, i) => {
			const n = f.node;
			const attrs = {
				class: 'frame' + (f.ancestor ? ' ancestor' : ''),
				transform: `translate(${f.x.toFixed(2)},${f.depth * FLAME_ROW})`,
				'data-i': i, 'data-name': n.name, 'data-value': this.width(n),
				'data-share': total > 0 ? this.width(n) / total : 0,
			};
			let fill;
			if (this.opts.diff) {
				const [b, a] = n.value;
				const rel = Math.max(a, b) > 0 ? (a - b) / Math.max(a, b) : 0;
				attrs['data-before'] = b;
				attrs['data-after'] = a;
				attrs.class += Math.abs(rel) < 1e-9 ? ' same' : rel > 0 ? ' grown' : ' shrunk';
				fill = diffColour(rel);
			} else {
				fill = frameColour(n.name);
			}
			if (this.matches(n))
				attrs.class += ' match';
			const g = el('svg:g', attrs,
				el('svg:rect', { width: Math.max(f.w - 0.5, 0.5).toFixed(2),
					height: FLAME_ROW - 1, fill }));
			const chars = Math.floor((f.w - 6) / FLAME_CHAR_PX);
			if (chars >= 3)
				g.append(el('svg:text', { x: 3, y: FLAME_ROW - 5 },
					n.name.length <= chars ? n.name : n.name.slice(0, chars - 2) + '..'));
			svg.append(g);
		});
		this.svgHolder.replaceChildren(svg);
		this.resetButton.disabled = zoom === this.root;
		const notes = [];
		if (!(total > 0))
			notes.push(`Nothing to show for ${this.metric}.`);
		if (hidden)
			notes.push(`${hidden} frame${hidden === 1 ? ' is' : 's are'} narrower than a pixel ` +
				'and not drawn; click a frame to zoom in.');
		this.noteNode.textContent = notes.join(' ');
	}

	matches(n) {
		return this.pattern !== null && n.parent !== null && this.pattern.test(n.name);
	}

	/* Lights up the frames whose name matches text; says what share of
	 * the total they hold (a frame inside a matching frame counts once). */
	search(text) {
		this.pattern = null;
		if (text) {
			try {
				this.pattern = new RegExp(text, 'i');
			} catch (e) {
				this.pattern = new RegExp(escapeRegex(text), 'i');
			}
		}
		this.svgHolder.querySelectorAll('g.frame').forEach(g => {
			g.classList.toggle('match', this.matches(this.frames[+g.dataset.i].node));
		});
		if (!this.pattern || !this.root) {
			this.matchNode.textContent = '';
			this.matchNode.removeAttribute('data-share');
			return;
		}
		const sum = [0, 0];
		let count = 0;
		const walk = n => {
			if (this.matches(n)) {
				sum[0] += n.value[0];
				sum[1] += n.value[1];
				count++;
				return;
			}
			for (const c of n.children.values()) walk(c);
		};
		walk(this.root);
		const side = this.opts.diff ? this.widthSide : 0;
		const total = this.root.value[side];
		const share = total > 0 ? sum[side] / total : 0;
		this.matchNode.dataset.share = share;
		this.matchNode.dataset.value = sum[side];
		if (!count) {
			this.matchNode.textContent = 'no frame matches';
		} else if (this.opts.diff) {
			this.matchNode.textContent = `matches: before ${fmtPct(this.root.value[0] ? sum[0] / this.root.value[0] : 0)}` +
				` (${this.fmt(sum[0])}), after ${fmtPct(this.root.value[1] ? sum[1] / this.root.value[1] : 0)}` +
				` (${this.fmt(sum[1])}) of ${this.metric}`;
		} else {
			this.matchNode.textContent = `matches: ${fmtPct(share)} of ${this.metric}` +
				` (${fmtExact(sum[0])} of ${fmtExact(total)})`;
		}
	}

	fmt(v) {
		return fmtMetric(v, this.metric, this.opts.perUnit);
	}

	nodeAt(event) {
		const g = event.target.closest && event.target.closest('g.frame');
		return g ? this.frames[+g.dataset.i].node : null;
	}

	hover(event) {
		const n = this.nodeAt(event);
		if (!n) {
			hideTooltip();
			return;
		}
		const lines = [n.name];
		if (n.parent)
			lines.push((n.file ? baseName(n.file) + ':' + n.line + '  ' : '') +
				baseName(n.module || ''));
		const unit = this.opts.perUnit ? ' per unit of work' : '';
		const exact = v => `${this.fmt(v)} (${fmtExact(v)})`;
		if (this.opts.diff) {
			const [b, a] = n.value;
			lines.push(`${this.metric}${unit}: before ${exact(b)}`);
			lines.push(`after ${exact(a)}`);
			lines.push(`change ${fmtSigned(this.fmt(a - b), a - b)}` +
				(b > 0 ? ` (${fmtSigned(fmtPct((a - b) / b), a - b)})` : ''));
		} else {
			const v = n.value[0], total = this.root.value[0];
			const zoom = this.zoomNode();
			lines.push(`${this.metric}: ${exact(v)}`);
			lines.push(`${fmtPct(total ? v / total : 0)} of all` +
				(zoom !== this.root ? `, ${fmtPct(this.width(zoom) ? v / this.width(zoom) : 0)} of ${zoom.name}` : ''));
			if (n.self[0] > 0)
				lines.push(`allocated right here: ${exact(n.self[0])}`);
		}
		showTooltip(event, lines);
	}
}

/* A warm colour per function name, the same on every render. */
function frameColour(name) {
	let h = 0;
	for (let i = 0; i < name.length; i++)
		h = (h * 31 + name.charCodeAt(i)) >>> 0;
	const hue = 8 + (h % 42), sat = 70 + (h >> 8) % 20, light = 58 + (h >> 16) % 12;
	return `hsl(${hue},${sat}%,${light}%)`;
}

/* rel -1 (gone) .. 0 (same) .. +1 (new): blue .. pale .. red */
function diffColour(rel) {
	if (Math.abs(rel) < 1e-9)
		return 'hsl(40,10%,88%)';
	const light = 92 - 42 * Math.min(1, Math.abs(rel));
	return rel > 0 ? `hsl(2,85%,${light}%)` : `hsl(215,85%,${light}%)`;
}
