"""Pictures drawn from data: boxes and arrows as SVG, in pure Python (no graphviz binary).

A :class:`Diagram` is a grid of :class:`Box` es (columns top to bottom; ``None`` leaves a slot empty so rows
line up across columns) and :class:`Arrow` s between boxes. The chapters build one from the live system or
the plan: a packet's path from a CNI option's datapath facts, the storage stack from a StorageClass, the
overlay layers of a running container. In a notebook the diagram shows itself (``_repr_svg_``);
``diagram.svg()`` is the SVG text.

>>> d = Diagram("demo", [[Box("a", "pod"), Box("b", "node")]], [Arrow("a", "b", "veth")])
>>> "veth" in d.svg()
True
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

#: fill, stroke per tone: what a box is (the legend reads them)
TONES = {
    "pod": ("#e8f1fb", "#3b73b9"),      # inside a pod / a container
    "kernel": ("#fdf3e1", "#c27c0e"),   # the node's kernel: veth, bridge, routes, eBPF, overlayfs
    "wire": ("#eef7ee", "#3d8b3d"),     # between nodes / the disk
    "api": ("#f3ecfa", "#7a4fb5"),      # Kubernetes objects
    "plain": ("#f4f4f4", "#666666"),
    "new": ("#e6f6ec", "#2e8b57"),      # written by the container
    "gone": ("#fbe9e9", "#b03a2e"),     # deleted (whiteout)
}
W, GAP_X, GAP_Y, PAD = 220, 130, 34, 16
LABEL_CHARS, NOTE_CHARS = 26, 34


@dataclass(frozen=True)
class Box:
    key: str
    label: str
    note: str = ""  # smaller lines under the label (wrapped; at most four lines)
    tone: str = "plain"

    def lines(self) -> tuple[list[str], list[str]]:
        label = textwrap.wrap(self.label, LABEL_CHARS)[:2] or [""]
        note = [ln for part in self.note.split("\n") for ln in textwrap.wrap(part, NOTE_CHARS)][:4]
        return label, note

    @property
    def height(self) -> int:
        label, note = self.lines()
        return 14 + 16 * len(label) + 13 * len(note)


@dataclass(frozen=True)
class Arrow:
    src: str
    dst: str
    label: str = ""
    dashed: bool = False


@dataclass
class Diagram:
    title: str
    columns: Sequence[Sequence[Box | None]]
    arrows: Sequence[Arrow] = ()
    headers: Sequence[str] = ()
    caption: str = ""
    legend: Sequence[tuple[str, str]] = field(default_factory=tuple)  # (tone, meaning)

    def boxes(self) -> list[Box]:
        return [b for col in self.columns for b in col if b is not None]

    def parts(self) -> list[str]:
        """Every label and arrow label, for tests and for text-only readers."""
        return [b.label for b in self.boxes()] + [a.label for a in self.arrows if a.label]

    def _layout(self) -> tuple[dict[str, tuple[int, int, int, int]], int, int, int]:
        keys = [b.key for b in self.boxes()]
        if len(set(keys)) != len(keys):
            raise ValueError(f"box keys must be unique: {keys}")
        rows = max((len(c) for c in self.columns), default=0)
        heights = [max((c[r].height for c in self.columns if r < len(c) and c[r] is not None), default=0)
                   for r in range(rows)]
        top = 44 + (22 if self.headers else 0)
        place: dict[str, tuple[int, int, int, int]] = {}
        for ci, col in enumerate(self.columns):
            x = PAD + ci * (W + GAP_X)
            y = top
            for r in range(rows):
                box = col[r] if r < len(col) else None
                if box is not None:
                    place[box.key] = (x, y + (heights[r] - box.height) // 2, W, box.height)
                y += heights[r] + GAP_Y
        width = PAD * 2 + len(self.columns) * W + max(0, len(self.columns) - 1) * GAP_X
        bottom = top + sum(heights) + GAP_Y * max(0, rows - 1)
        return place, width, top, bottom

    def svg(self) -> str:
        for a in self.arrows:
            if a.src not in {b.key for b in self.boxes()} or a.dst not in {b.key for b in self.boxes()}:
                raise ValueError(f"arrow {a.src} → {a.dst} names a box that is not in the diagram")
        place, width, top, bottom = self._layout()
        legend_w = PAD * 2 + sum(30 + int(6.4 * len(m)) for _, m in self.legend)
        width = max(width, legend_w, PAD * 2 + int(9 * len(self.title)))
        caption = textwrap.wrap(self.caption, max(40, int(width / 6.6))) if self.caption else []
        legend_h = 22 if self.legend else 0
        height = bottom + 18 + legend_h + 15 * len(caption) + PAD
        out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
               f'viewBox="0 0 {width} {height}" font-family="DejaVu Sans, Arial, sans-serif" role="img">',
               f"<title>{escape(self.title)}</title>",
               '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" markerHeight="8" '
               'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#333"/></marker></defs>',
               f'<rect width="{width}" height="{height}" fill="white"/>',
               f'<text x="{PAD}" y="26" font-size="15" font-weight="bold">{escape(self.title)}</text>']
        for ci, head in enumerate(self.headers):
            x = PAD + ci * (W + GAP_X) + W // 2
            out.append(f'<text x="{x}" y="{top - 10}" font-size="12" text-anchor="middle" fill="#444" '
                       f'font-style="italic">{escape(head)}</text>')
        for a in self.arrows:
            out += _arrow(place[a.src], place[a.dst], a)
        for b in self.boxes():
            out += _box(place[b.key], b)
        y = bottom + 18
        if self.legend:
            x = PAD
            for tone, meaning in self.legend:
                fill, stroke = TONES.get(tone, TONES["plain"])
                out.append(f'<rect x="{x}" y="{y - 11}" width="14" height="14" rx="3" fill="{fill}" '
                           f'stroke="{stroke}"/>')
                out.append(f'<text x="{x + 19}" y="{y}" font-size="11">{escape(meaning)}</text>')
                x += 30 + int(6.4 * len(meaning))
            y += legend_h
        for line in caption:
            out.append(f'<text x="{PAD}" y="{y}" font-size="11" fill="#333">{escape(line)}</text>')
            y += 15
        out.append("</svg>")
        return "\n".join(out)

    def _repr_svg_(self) -> str:
        return self.svg()

    def show(self) -> None:
        """Display it in a notebook (``IPython.display.SVG``)."""
        from IPython.display import SVG, display

        display(SVG(data=self.svg()))


def _box(rect: tuple[int, int, int, int], box: Box) -> list[str]:
    x, y, w, h = rect
    fill, stroke = TONES.get(box.tone, TONES["plain"])
    label, note = box.lines()
    out = [f'<g class="box" data-key="{escape(box.key)}">',
           f'<rect x="{x}" y="{y}" width="{w}" height="{h}" rx="7" fill="{fill}" stroke="{stroke}" '
           'stroke-width="1.5"/>']
    ty = y + 20
    for line in label:
        out.append(f'<text x="{x + w // 2}" y="{ty}" font-size="13" font-weight="bold" text-anchor="middle">'
                   f"{escape(line)}</text>")
        ty += 16
    for line in note:
        out.append(f'<text x="{x + w // 2}" y="{ty - 2}" font-size="10.5" text-anchor="middle" fill="#333">'
                   f"{escape(line)}</text>")
        ty += 13
    out.append("</g>")
    return out


def _anchor(rect: tuple[int, int, int, int], toward: tuple[float, float]) -> tuple[float, float]:
    """Where a line from ``rect``'s centre toward a point leaves the rectangle."""
    x, y, w, h = rect
    cx, cy = x + w / 2, y + h / 2
    dx, dy = toward[0] - cx, toward[1] - cy
    if dx == 0 and dy == 0:
        return cx, cy
    sx = (w / 2) / abs(dx) if dx else float("inf")
    sy = (h / 2) / abs(dy) if dy else float("inf")
    s = min(sx, sy)
    return cx + dx * s, cy + dy * s


def _arrow(src: tuple[int, int, int, int], dst: tuple[int, int, int, int], arrow: Arrow) -> list[str]:
    c_src = (src[0] + src[2] / 2, src[1] + src[3] / 2)
    c_dst = (dst[0] + dst[2] / 2, dst[1] + dst[3] / 2)
    x1, y1 = _anchor(src, c_dst)
    x2, y2 = _anchor(dst, c_src)
    dash = ' stroke-dasharray="6 4"' if arrow.dashed else ""
    out = [f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="#333" stroke-width="1.6"'
           f'{dash} marker-end="url(#arrow)"/>']
    if arrow.label:
        mx, my = (x1 + x2) / 2, (y1 + y2) / 2
        vertical = abs(x2 - x1) < abs(y2 - y1)
        lines = textwrap.wrap(arrow.label, 30 if vertical else 20)[:3]
        anchor, tx = ("start", mx + 8) if vertical else ("middle", mx)
        ty = my - 6 * (len(lines) - 1) + 4 if vertical else my - 7 - 12 * (len(lines) - 1)
        for line in lines:
            out.append(f'<text x="{tx:.1f}" y="{ty:.1f}" font-size="10.5" text-anchor="{anchor}" fill="#222" '
                       f'stroke="white" stroke-width="3" paint-order="stroke">{escape(line)}</text>')
            ty += 12
    return out


def chain(title: str, boxes: Sequence[Box], labels: Sequence[str] = (), *, caption: str = "",
          legend: Sequence[tuple[str, str]] = ()) -> Diagram:
    """One column, each box pointing to the next (``labels[i]`` on the i-th arrow): a stack, read top down."""
    arrows = [Arrow(a.key, b.key, labels[i] if i < len(labels) else "") for i, (a, b) in
              enumerate(zip(boxes, boxes[1:], strict=False))]
    return Diagram(title, [list(boxes)], arrows, caption=caption, legend=legend)
