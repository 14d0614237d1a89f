// Legible name colours. A user's colour is theirs (from the palette, or any
// #rrggbb an import brought along), but it must be readable on both themes:
// WCAG AA asks for a contrast of 4.5:1 for text. So each name carries two
// variants of its colour, darkened for the light theme and lightened for the
// dark one until they reach that contrast, and the stylesheet picks one with
// prefers-color-scheme (so a theme switch needs no script).

const HEX = /^#[0-9a-f]{6}$/i;

// The backgrounds a name is read on, the one closest to it in brightness
// per theme (site.css): the tint of a message that mentions the reader,
// over --panel.
const LIGHT_BG = [232, 226, 255];
const DARK_BG = [38, 35, 69];
const TARGET = 4.6; // AA's 4.5, with a margin for rounding to whole channels

function luminance(rgb) {
  return rgb.map((c) => {
    const v = c / 255;
    return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
  }).reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
}

// contrast is WCAG's contrast ratio of two colours given as [r, g, b].
export function contrast(a, b) {
  const [x, y] = [luminance(a), luminance(b)];
  return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05);
}

// towards moves rgb a tenth of the way to the target channel value at a
// time (0: darker, 255: lighter) until it stands out from bg.
function towards(rgb, target, bg) {
  let c = rgb;
  for (let i = 0; i < 60 && contrast(c.map(Math.round), bg) < TARGET; i++) {
    c = c.map((v) => v + (target - v) * 0.1);
  }
  const out = c.map(Math.round);
  return contrast(out, bg) >= TARGET ? out : [target, target, target];
}

function css(rgb) {
  return `rgb(${rgb.join(', ')})`;
}

// paintName gives el a user's colour as --name-light and --name-dark; the
// stylesheet uses the one for the current theme. Anything but #rrggbb is
// ignored (the text colour stays).
export function paintName(el, hex) {
  if (typeof hex !== 'string' || !HEX.test(hex)) return;
  const rgb = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
  el.style.setProperty('--name-light', css(towards(rgb, 0, LIGHT_BG)));
  el.style.setProperty('--name-dark', css(towards(rgb, 255, DARK_BG)));
}
