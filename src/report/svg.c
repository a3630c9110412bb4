/* Inline SVG charts for the run report: a line chart (loss curves, search histories) and a grouped
 * bar chart (perplexity per split), with axes on round numbers. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "depthfuse/error.h"
#include "depthfuse/run_report.h"

static const char *const PALETTE[] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                                      "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"};

const char *chart_colour(int i) { return PALETTE[i % 10]; }

typedef struct {
    double lo, hi, step;
    int decimals;
} Axis;

/* [lo, hi] widened to multiples of a round step (1, 2 or 5 x 10^k), about `ticks` of them */
static Axis axis_of(double lo, double hi, int ticks) {
    if (!(hi > lo)) {
        const double pad = lo != 0 ? fabs(lo) * 0.1 : 1;
        lo -= pad, hi += pad;
    }
    const double raw = (hi - lo) / ticks, mag = pow(10, floor(log10(raw))), f = raw / mag;
    Axis a;
    a.step = (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
    a.lo = floor(lo / a.step + 1e-9) * a.step;
    a.hi = ceil(hi / a.step - 1e-9) * a.step;
    a.decimals = a.step >= 1 ? 0 : (int)ceil(-log10(a.step) - 1e-9);
    return a;
}

static double map(double v, double lo, double hi, double p0, double p1) {
    return p0 + (v - lo) / (hi - lo) * (p1 - p0);
}

/* the frame, grid and tick labels of the plot area [x0,x1] x [y0,y1] (SVG y grows downwards) */
static void draw_axes(FILE *f, const Axis *ax, const Axis *ay, double x0, double x1, double y0, double y1) {
    for (double v = ay->lo; v <= ay->hi + ay->step * 0.5; v += ay->step) {
        const double y = map(v, ay->lo, ay->hi, y1, y0);
        fprintf(f, "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
                   "<text class=\"tick\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.*f</text>\n",
                x0, y, x1, y, x0 - 4, y + 4, ay->decimals, fabs(v) < ay->step * 1e-6 ? 0.0 : v);
    }
    if (ax)
        for (double v = ax->lo; v <= ax->hi + ax->step * 0.5; v += ax->step) {
            const double x = map(v, ax->lo, ax->hi, x0, x1);
            fprintf(f, "<line class=\"tickmark\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
                       "<text class=\"tick\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.*f</text>\n",
                    x, y1, x, y1 + 4, x, y1 + 16, ax->decimals, fabs(v) < ax->step * 1e-6 ? 0.0 : v);
        }
    fprintf(f, "<rect class=\"frame\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/>\n", x0, y0, x1 - x0, y1 - y0);
}

static void axis_labels(FILE *f, const char *x_label, const char *y_label, double x0, double x1, double y0, double y1,
                        int height) {
    if (x_label) {
        fprintf(f, "<text class=\"label\" x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">", (x0 + x1) / 2, height - 4);
        html_text(f, x_label);
        fprintf(f, "</text>\n");
    }
    if (y_label) {
        fprintf(f, "<text class=\"label\" transform=\"translate(12 %.1f) rotate(-90)\" text-anchor=\"middle\">",
                (y0 + y1) / 2);
        html_text(f, y_label);
        fprintf(f, "</text>\n");
    }
}

/* a row of legend entries at height y */
static void legend(FILE *f, const char *const *names, int n, double x, double y, int width) {
    for (int i = 0; i < n; i++) {
        const double w = 22 + 6.5 * (double)strlen(names[i]);
        if (x + w > width && i > 0) x = 56, y += 14;
        fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"12\" height=\"8\" fill=\"%s\"/><text class=\"legend\" "
                   "x=\"%.1f\" y=\"%.1f\">", x, y - 7, chart_colour(i), x + 16, y);
        html_text(f, names[i]);
        fprintf(f, "</text>\n");
        x += w;
    }
}

typedef struct {
    double *x, *y; /* the points with a value; a NAN y marks a gap */
    int n, values;
} Points;

/* a series' points; more than 2 x MAXP are thinned to the lowest and highest of MAXP buckets */
enum { MAXP = 800 };
static void points_of(Points *p, const ChartSeries *s) {
    const int n = cJSON_GetArraySize(s->x);
    p->x = df_malloc(sizeof(double) * (size_t)(n + 1));
    p->y = df_malloc(sizeof(double) * (size_t)(n + 1));
    p->n = p->values = 0;
    const cJSON *a = s->x->child, *b = s->y->child;
    for (; a && b; a = a->next, b = b->next) {
        p->x[p->n] = a->valuedouble;
        p->y[p->n] = cJSON_IsNumber(b) && isfinite(b->valuedouble) ? b->valuedouble : NAN;
        p->values += !isnan(p->y[p->n]);
        p->n++;
    }
    if (p->n <= 2 * MAXP) return;
    int k = 0;
    for (int bk = 0; bk < MAXP; bk++) {
        const int i0 = (int)((long long)bk * p->n / MAXP), i1 = (int)((long long)(bk + 1) * p->n / MAXP);
        int lo = -1, hi = -1;
        for (int i = i0; i < i1; i++) {
            if (isnan(p->y[i])) continue;
            if (lo < 0 || p->y[i] < p->y[lo]) lo = i;
            if (hi < 0 || p->y[i] > p->y[hi]) hi = i;
        }
        if (lo < 0) {
            p->x[k] = p->x[i0], p->y[k++] = NAN;
            continue;
        }
        const int first = lo < hi ? lo : hi, second = lo < hi ? hi : lo;
        const double x2 = p->x[second], y2 = p->y[second];
        p->x[k] = p->x[first], p->y[k] = p->y[first], k++;
        if (second != first) p->x[k] = x2, p->y[k] = y2, k++;
    }
    p->n = k;
}

void svg_line_chart(FILE *f, const char *title, const char *x_label, const char *y_label, const ChartSeries *s,
                    int n_series, int width, int height) {
    Points *pts = df_calloc((size_t)n_series + 1, sizeof(Points));
    double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
    const char **names = df_malloc(sizeof(char *) * (size_t)(n_series + 1));
    for (int k = 0; k < n_series; k++) {
        points_of(&pts[k], &s[k]);
        names[k] = s[k].name;
        for (int i = 0; i < pts[k].n; i++) {
            if (isnan(pts[k].y[i])) continue;
            xlo = fmin(xlo, pts[k].x[i]), xhi = fmax(xhi, pts[k].x[i]);
            ylo = fmin(ylo, pts[k].y[i]), yhi = fmax(yhi, pts[k].y[i]);
        }
    }
    if (!isfinite(xlo)) xlo = 0, xhi = 1, ylo = 0, yhi = 1;
    const int legend_rows = n_series > 1 ? 1 + (int)(n_series / 5) : 0;
    const double x0 = 56, x1 = width - 12, y0 = 26 + 14 * legend_rows, y1 = height - 38;
    const Axis ax = axis_of(xlo, xhi, 6), ay = axis_of(ylo, yhi, 5);
    fprintf(f, "<svg class=\"chart\" viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" role=\"img\"><title>", width,
            height, width, height);
    html_text(f, title);
    fprintf(f, "</title>\n<text class=\"title\" x=\"%d\" y=\"16\">", 8);
    html_text(f, title);
    fprintf(f, "</text>\n");
    if (n_series > 1) legend(f, names, n_series, 56, 32, width);
    draw_axes(f, &ax, &ay, x0, x1, y0, y1);
    axis_labels(f, x_label, y_label, x0, x1, y0, y1, height);
    for (int k = 0; k < n_series; k++) {
        const Points *p = &pts[k];
        fprintf(f, "<g class=\"series\" data-series=\"");
        html_text(f, s[k].name);
        fprintf(f, "\" data-points=\"%d\" stroke=\"%s\" fill=\"%s\">", p->values, chart_colour(k), chart_colour(k));
        int open = 0;
        for (int i = 0; i < p->n; i++) {
            if (isnan(p->y[i])) {
                if (open) fprintf(f, "\"/>");
                open = 0;
                continue;
            }
            const double x = map(p->x[i], ax.lo, ax.hi, x0, x1), y = map(p->y[i], ay.lo, ay.hi, y1, y0);
            if (p->n <= 40) fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\"/>", x, y);
            fprintf(f, "%s%.1f,%.1f", open ? " " : "<polyline points=\"", x, y);
            open = 1;
        }
        if (open) fprintf(f, "\"/>");
        fprintf(f, "</g>\n");
        free(p->x);
        free(p->y);
    }
    fprintf(f, "</svg>\n");
    free(pts);
    free(names);
}

void svg_bar_chart(FILE *f, const char *y_label, const char *const *groups, int n_groups, const char *const *bars,
                   int n_bars, const double *v, int width, int height) {
    double hi = 0;
    for (int i = 0; i < n_groups * n_bars; i++)
        if (isfinite(v[i])) hi = fmax(hi, v[i]);
    const int legend_rows = 1 + n_bars / 5;
    const double x0 = 56, x1 = width - 12, y0 = 12 + 14 * legend_rows, y1 = height - 38;
    const Axis ay = axis_of(0, hi > 0 ? hi : 1, 5);
    fprintf(f, "<svg class=\"chart\" viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" role=\"img\">"
               "<title>perplexity per split</title>\n", width, height, width, height);
    legend(f, bars, n_bars, 56, 16, width);
    draw_axes(f, NULL, &ay, x0, x1, y0, y1);
    axis_labels(f, NULL, y_label, x0, x1, y0, y1, height);
    const double gw = (x1 - x0) / n_groups, bw = gw * 0.8 / n_bars;
    for (int g = 0; g < n_groups; g++) {
        fprintf(f, "<text class=\"tick\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", x0 + gw * (g + 0.5), y1 + 16);
        html_text(f, groups[g]);
        fprintf(f, "</text>\n");
        for (int b = 0; b < n_bars; b++) {
            const double val = v[g * n_bars + b];
            if (!isfinite(val)) continue;
            const double top = map(val, ay.lo, ay.hi, y1, y0);
            fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"><title>",
                    x0 + gw * g + gw * 0.1 + bw * b, top, bw, y1 - top, chart_colour(b));
            html_text(f, bars[b]);
            fprintf(f, ", ");
            html_text(f, groups[g]);
            fprintf(f, ": %.4f</title></rect>\n", val);
        }
    }
    fprintf(f, "</svg>\n");
}
