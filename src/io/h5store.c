/* The HDF5 model store (docs/formats.md):
 *   /                    attrs: format "depthfuse-model", format_version 1, config_json (the
 *                        config.json text) and the main dimensions (informational)
 *   /embed_tokens        [V,H]      /norm [H]      /lm_head [V,H] (absent when tied)
 *   /blocks/NNN/<name>   one group per block; <name> as in HF ("self_attn.q_proj.weight", ...)
 *   /files/<name>        uint8 datasets: tokenizer.json, tokenizer_config.json, ... verbatim
 * Tensors are chunked along rows; F32 as IEEE float, BF16/F16 as uint16 with a "dtype" attribute
 * (HDF5 1.10 has no bf16 type), so values round-trip bit-exactly. Every dataset carries "hf_name".
 * Every metadata call is made by every rank with the same arguments (HDF5's collective rules);
 * ranks that transfer nothing take part with empty selections. */
#include "depthfuse/h5store.h"

#include <errno.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "depthfuse/error.h"
#include "depthfuse/fileio.h"
#include "depthfuse/hf_writer.h"
#include "depthfuse/pipeline.h"
#include "depthfuse/tensors.h"

enum { SLAB_ELEMS = 1 << 24 }; /* rows per transfer: at most 16M elements (64 MB of fp32) */
static const char *const FORMAT = "depthfuse-model";

int h5_is_store(const char *path) {
    size_t n = strlen(path);
    return n > 3 && !strcmp(path + n - 3, ".h5");
}

/* the dataset path of a tensor in the store */
static void dataset_path(char *buf, size_t n, const TensorRef *r) {
    switch (r->kind) {
    case TK_EMBED: snprintf(buf, n, "/embed_tokens"); break;
    case TK_NORM: snprintf(buf, n, "/norm"); break;
    case TK_HEAD: snprintf(buf, n, "/lm_head"); break;
    case TK_BLOCK: snprintf(buf, n, "/blocks/%03d/%s", r->layer, block_weight_name(r->w)); break;
    }
}

static hid_t file_access(int parallel) {
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (parallel) {
        H5Pset_fapl_mpio(fapl, MPI_COMM_WORLD, MPI_INFO_NULL);
        H5Pset_all_coll_metadata_ops(fapl, 1);
        H5Pset_coll_metadata_write(fapl, 1);
    }
    H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_LATEST); /* dense storage for big attributes */
    return fapl;
}

static hid_t open_store(const char *path, int parallel) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL); /* our messages, not HDF5's stack dumps */
    if (!df_exists(path)) return df_fail("%s: no such file", path);
    hid_t fapl = file_access(parallel);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    H5Pclose(fapl);
    if (f < 0) return df_fail("%s: not an HDF5 file (or unreadable)", path);
    return f;
}

/* a string attribute into a new buffer */
static int read_str_attr(hid_t obj, const char *name, const char *path, char **out) {
    if (H5Aexists(obj, name) <= 0) return df_fail("%s: missing attribute \"%s\" (not a depthfuse model store?)", path, name);
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT), t = H5Aget_type(a);
    int rc = 0;
    if (H5Tget_class(t) != H5T_STRING || H5Tis_variable_str(t) > 0) {
        rc = df_fail("%s: attribute \"%s\" is not a fixed-length string", path, name);
    } else {
        size_t n = H5Tget_size(t);
        *out = df_calloc(n + 1, 1);
        if (H5Aread(a, t, *out) < 0) rc = df_fail("%s: cannot read attribute \"%s\"", path, name);
    }
    H5Tclose(t);
    H5Aclose(a);
    return rc;
}

static int write_str_attr(hid_t obj, const char *name, const char *value) {
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, strlen(value) > 0 ? strlen(value) : 1);
    hid_t s = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(obj, name, t, s, H5P_DEFAULT, H5P_DEFAULT);
    herr_t e = a < 0 ? -1 : H5Awrite(a, t, value);
    if (a >= 0) H5Aclose(a);
    H5Sclose(s);
    H5Tclose(t);
    return e < 0 ? df_fail("cannot write attribute \"%s\"", name) : 0;
}

static void write_int_attr(hid_t obj, const char *name, long long v) {
    hid_t s = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(obj, name, H5T_STD_I64LE, s, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, H5T_NATIVE_LLONG, &v);
    H5Aclose(a);
    H5Sclose(s);
}

static int check_format(hid_t f, const char *path) {
    char *fmt = NULL;
    DF_TRY(read_str_attr(f, "format", path, &fmt));
    int rc = strcmp(fmt, FORMAT) ? df_fail("%s: format \"%s\" is not \"%s\"", path, fmt, FORMAT) : 0;
    free(fmt);
    return rc;
}

int h5_load_config(ModelConfig *c, const char *path) {
    hid_t f = open_store(path, 0);
    if (f < 0) return -1;
    char *json = NULL, what[1100];
    int rc = check_format(f, path);
    if (rc == 0) rc = read_str_attr(f, "config_json", path, &json);
    snprintf(what, sizeof what, "%s:config_json", path);
    if (rc == 0) rc = config_parse(c, json, strlen(json), what);
    free(json);
    H5Fclose(f);
    return rc;
}

/* ---- reading ---------------------------------------------------------------------------------- */

/* the dtype a tensor dataset stores, checked against its HDF5 type */
static int dataset_dtype(hid_t d, const char *path, const char *name, DfDtype *dt) {
    char *s = NULL;
    char what[1200];
    snprintf(what, sizeof what, "%s:%s", path, name);
    DF_TRY(read_str_attr(d, "dtype", what, &s));
    int rc = df_dtype_parse(s, dt) < 0 ? df_fail("%s: dataset \"%s\" has unknown dtype \"%s\"", path, name, s) : 0;
    free(s);
    if (rc < 0) return -1;
    hid_t t = H5Dget_type(d);
    size_t size = H5Tget_size(t);
    H5T_class_t cls = H5Tget_class(t);
    H5Tclose(t);
    if ((*dt == DF_F32 && (cls != H5T_FLOAT || size != 4)) || (*dt != DF_F32 && (cls != H5T_INTEGER || size != 2)))
        return df_fail("%s: dataset \"%s\" has an HDF5 type that does not match its dtype attribute", path, name);
    return 0;
}

/* rows [r0, r0+nr) of a 1-D or 2-D dataset as a hyperslab; nr == 0: an empty selection */
static void select_rows(hid_t space, int ndim, const hsize_t *dims, hsize_t r0, hsize_t nr) {
    if (nr == 0) {
        H5Sselect_none(space);
        return;
    }
    hsize_t start[2] = {r0, 0}, count[2] = {nr, ndim > 1 ? dims[1] : 1};
    H5Sselect_hyperslab(space, H5S_SELECT_SET, start, NULL, count, NULL);
}

static hid_t collective_xfer(void) {
    hid_t x = H5Pcreate(H5P_DATASET_XFER);
    H5Pset_dxpl_mpio(x, H5FD_MPIO_COLLECTIVE);
    return x;
}

/* Check a tensor dataset's presence, shape and dtype; then, unless check_only, read it into dst
 * (fp32) on the ranks where dst != NULL. Collective. */
static int read_tensor(hid_t f, const char *path, const TensorRef *r, float *dst, DfDtype *dtype, int check_only) {
    char name[160];
    dataset_path(name, sizeof name, r);
    if (H5Lexists(f, name, H5P_DEFAULT) <= 0) return df_fail("%s: missing dataset \"%s\" (%s)", path, name, r->name);
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    if (d < 0) return df_fail("%s: cannot open dataset \"%s\"", path, name);
    hid_t space = H5Dget_space(d);
    hsize_t dims[2] = {0, 0};
    int nd = H5Sget_simple_extent_ndims(space), rc = 0;
    H5Sget_simple_extent_dims(space, dims, NULL);
    int64_t got[2] = {(int64_t)dims[0], (int64_t)dims[1]};
    if (nd != r->ndim || got[0] != r->shape[0] || (nd > 1 && got[1] != r->shape[1])) {
        char a[64], b[64];
        shape_str(a, sizeof a, nd, got);
        shape_str(b, sizeof b, r->ndim, r->shape);
        rc = df_fail("%s: dataset \"%s\" has shape %s, expected %s", path, name, a, b);
    }
    if (rc == 0) rc = dataset_dtype(d, path, name, dtype);
    if (rc == 0 && !check_only) {
        const hsize_t cols = nd > 1 ? dims[1] : 1;
        const hsize_t slab = SLAB_ELEMS / cols > 0 ? SLAB_ELEMS / cols : 1;
        const size_t esize = df_dtype_size(*dtype);
        void *buf = dst ? df_malloc((size_t)(slab < dims[0] ? slab : dims[0]) * cols * esize) : NULL;
        hid_t xfer = collective_xfer();
        hid_t mtype = *dtype == DF_F32 ? H5T_NATIVE_FLOAT : H5T_NATIVE_UINT16;
        char dummy[4];
        for (hsize_t r0 = 0; r0 < dims[0] && rc == 0; r0 += slab) {
            const hsize_t nr = dims[0] - r0 < slab ? dims[0] - r0 : slab, mine = dst ? nr : 0;
            hsize_t mdims[2] = {nr, cols};
            hid_t mspace = H5Screate_simple(nd, mdims, NULL);
            if (!mine) H5Sselect_none(mspace);
            select_rows(space, nd, dims, r0, mine);
            if (H5Dread(d, mtype, mspace, space, xfer, dst ? buf : (void *)dummy) < 0)
                rc = df_fail("%s: cannot read dataset \"%s\"", path, name);
            else if (dst)
                df_convert_to_f32(dst + r0 * cols, buf, (size_t)(nr * cols), *dtype);
            H5Sclose(mspace);
        }
        H5Pclose(xfer);
        free(buf);
    }
    H5Sclose(space);
    H5Dclose(d);
    return rc;
}

/* a group must hold exactly `want` links: nothing left unused */
static int check_members(hid_t f, const char *group, hsize_t want, const char *path) {
    H5G_info_t info;
    hid_t g = H5Gopen2(f, group, H5P_DEFAULT);
    if (g < 0) return df_fail("%s: missing group \"%s\"", path, group);
    herr_t e = H5Gget_info(g, &info);
    H5Gclose(g);
    if (e < 0 || info.nlinks != want)
        return df_fail("%s: group \"%s\" holds %llu entries, expected %llu (unexpected or missing datasets)", path,
                       group, (unsigned long long)info.nlinks, (unsigned long long)want);
    return 0;
}

static int check_no_leftovers(hid_t f, const ModelConfig *c, const char *path) {
    /* root: format attrs + embed_tokens, norm, blocks, files, (lm_head) */
    DF_TRY(check_members(f, "/", c->tie_embeddings ? 4 : 5, path));
    DF_TRY(check_members(f, "/blocks", (hsize_t)c->n_layers, path));
    for (int l = 0; l < c->n_layers; l++) {
        hsize_t n = 0;
        for (int w = 0; w < BW_COUNT; w++) n += block_weight_numel(c, w) > 0;
        char g[32];
        snprintf(g, sizeof g, "/blocks/%03d", l);
        DF_TRY(check_members(f, g, n, path));
    }
    return 0;
}

int h5_load_model(Model *m, const char *path, const ModelPart *p) {
    hid_t f = open_store(path, 1);
    if (f < 0) return -1;
    TensorRef *refs;
    const int n = tensor_refs(&m->cfg, &refs);
    int rc = check_format(f, path);
    DfDtype dt = DF_BF16;
    /* metadata first (every tensor present and well-formed, nothing else stored), then the data */
    for (int i = 0; i < n && rc == 0; i++) rc = read_tensor(f, path, &refs[i], NULL, &dt, 1);
    if (rc == 0) rc = check_no_leftovers(f, &m->cfg, path);
    for (int i = 0; i < n && rc == 0; i++) {
        float *dst = tensor_ref_data(m, &refs[i]);
        /* the last stage of a tied model reads the embedding into its head */
        if (refs[i].kind == TK_EMBED && !dst && m->cfg.tie_embeddings && p->head) dst = m->lm_head;
        rc = read_tensor(f, path, &refs[i], dst, &dt, 0);
        tensor_ref_set_dtype(m, &refs[i], dt);
    }
    if (m->cfg.tie_embeddings) m->head_dtype = m->embed_dtype;
    free(refs);
    H5Fclose(f);
    return rc;
}

int h5_read_file(const char *path, const char *name, char **data, size_t *len) {
    hid_t f = open_store(path, 0);
    if (f < 0) return -1;
    char dpath[256];
    snprintf(dpath, sizeof dpath, "/files/%s", name);
    int rc = -1;
    if (H5Lexists(f, "/files", H5P_DEFAULT) > 0 && H5Lexists(f, dpath, H5P_DEFAULT) > 0) {
        hid_t d = H5Dopen2(f, dpath, H5P_DEFAULT), s = H5Dget_space(d);
        hssize_t n = H5Sget_simple_extent_npoints(s);
        *data = df_malloc((size_t)n + 1);
        if (n == 0 || H5Dread(d, H5T_NATIVE_UCHAR, H5S_ALL, H5S_ALL, H5P_DEFAULT, *data) >= 0) {
            (*data)[n] = 0;
            *len = (size_t)n;
            rc = 0;
        } else {
            free(*data);
            rc = df_fail("%s: cannot read \"%s\"", path, dpath);
        }
        H5Sclose(s);
        H5Dclose(d);
    }
    H5Fclose(f);
    return rc;
}

/* ---- writing ---------------------------------------------------------------------------------- */

static hid_t create_dataset(hid_t f, const char *name, hid_t type, int nd, const hsize_t *dims) {
    hsize_t chunk[2] = {dims[0], nd > 1 ? dims[1] : 1};
    const hsize_t cols = nd > 1 ? dims[1] : 1, target = (1u << 20) / cols; /* ~1M elements per chunk */
    if (chunk[0] > target) chunk[0] = target > 0 ? target : 1;
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    if (dims[0] > 0) H5Pset_chunk(dcpl, nd, chunk);
    H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t s = H5Screate_simple(nd, dims, NULL);
    hid_t d = H5Dcreate2(f, name, type, s, lcpl, dcpl, H5P_DEFAULT);
    H5Sclose(s);
    H5Pclose(dcpl);
    H5Pclose(lcpl);
    return d;
}

/* the rows of a tensor are written in slabs; in call k, the stage's rank of group g writes slab
 * k*D + g, so the D ranks holding a stage share its writing */
/* a collective write's outcome, agreed when several ranks write (one failing alone would leave the
 * others waiting in the next collective call) */
static int agreed(int parallel, int rc) { return parallel ? df_agree(MPI_COMM_WORLD, rc) : rc; }

/* the line for a failed write: errno says why when the MPI-IO layer kept it (EFBIG, ENOSPC) */
static int write_failed(const char *path, const char *what, int err) {
    if (err) return df_fail("%s: cannot write %s: %s", path, what, strerror(err));
    return df_fail("%s: cannot write %s", path, what);
}

static int write_tensor(hid_t f, const Model *m, const TensorRef *r, DfDtype dt, int writer_stage, int stage, int group,
                        int D, int parallel, const char *path) {
    char name[160];
    dataset_path(name, sizeof name, r);
    hsize_t dims[2] = {(hsize_t)r->shape[0], r->ndim > 1 ? (hsize_t)r->shape[1] : 1};
    hid_t d = create_dataset(f, name, dt == DF_F32 ? H5T_IEEE_F32LE : H5T_STD_U16LE, r->ndim, dims);
    if (d < 0) return df_fail("%s: cannot create dataset \"%s\"", path, name);
    int rc = write_str_attr(d, "dtype", df_dtype_name(dt));
    if (rc == 0) rc = write_str_attr(d, "hf_name", r->name);
    const hsize_t cols = dims[1], slab = SLAB_ELEMS / cols > 0 ? SLAB_ELEMS / cols : 1;
    const hsize_t nslabs = (dims[0] + slab - 1) / slab, calls = (nslabs + (hsize_t)D - 1) / (hsize_t)D;
    const float *src = stage == writer_stage ? tensor_ref_data(m, r) : NULL;
    void *buf = src ? df_malloc((size_t)(slab < dims[0] ? slab : dims[0]) * cols * 4) : NULL;
    hid_t space = H5Dget_space(d), xfer = collective_xfer();
    hid_t mtype = dt == DF_F32 ? H5T_NATIVE_FLOAT : H5T_NATIVE_UINT16;
    char dummy[4];
    for (hsize_t k = 0; k < calls && rc == 0; k++) {
        const hsize_t s = k * (hsize_t)D + (hsize_t)group, r0 = s * slab;
        const hsize_t nr = (src && s < nslabs) ? (dims[0] - r0 < slab ? dims[0] - r0 : slab) : 0;
        hsize_t mdims[2] = {nr ? nr : 1, cols};
        hid_t mspace = H5Screate_simple(r->ndim, mdims, NULL);
        if (!nr) H5Sselect_none(mspace);
        select_rows(space, r->ndim, dims, r0, nr);
        if (nr) df_convert_from_f32(buf, src + r0 * cols, (size_t)(nr * cols), dt);
        errno = 0;
        if (H5Dwrite(d, mtype, mspace, space, xfer, nr ? buf : (void *)dummy) < 0) {
            char what[200];
            snprintf(what, sizeof what, "dataset \"%s\"", name);
            rc = write_failed(path, what, errno);
        }
        rc = agreed(parallel, rc);
        H5Sclose(mspace);
    }
    free(buf);
    H5Pclose(xfer);
    H5Sclose(space);
    H5Dclose(d);
    return rc;
}

/* the verbatim files: rank 0 reads them from the source, everyone creates the datasets, rank 0 writes */
static int write_files(hid_t f, const Model *m, int rank, int parallel, const char *path) {
    int rc = 0;
    for (int i = 0; i < HF_N_EXTRA_FILES && rc == 0; i++) {
        char *data = NULL;
        size_t len = 0;
        long long n = -1;
        if (rank == 0 && m->source) {
            if (h5_is_store(m->source)) {
                if (h5_read_file(m->source, HF_EXTRA_FILES[i], &data, &len) == 0) n = (long long)len;
            } else {
                char *src = df_path_join(m->source, HF_EXTRA_FILES[i]);
                if (df_exists(src) && df_read_file(src, &data, &len) == 0) n = (long long)len;
                free(src);
            }
        }
        MPI_Bcast(&n, 1, MPI_LONG_LONG, 0, MPI_COMM_WORLD);
        if (n >= 0) {
            char name[128];
            snprintf(name, sizeof name, "/files/%s", HF_EXTRA_FILES[i]);
            hsize_t dims[1] = {(hsize_t)n};
            hid_t s = H5Screate_simple(1, dims, NULL);
            hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
            H5Pset_create_intermediate_group(lcpl, 1);
            hid_t d = H5Dcreate2(f, name, H5T_STD_U8LE, s, lcpl, H5P_DEFAULT, H5P_DEFAULT);
            hid_t mspace = H5Screate_simple(1, dims[0] ? dims : (hsize_t[]){1}, NULL), xfer = collective_xfer();
            if (rank != 0 || n == 0) {
                H5Sselect_none(mspace);
                H5Sselect_none(s);
            }
            char dummy[4];
            errno = 0;
            if (d < 0 || H5Dwrite(d, H5T_NATIVE_UCHAR, mspace, s, xfer, data ? data : dummy) < 0)
                rc = write_failed(path, name, errno);
            rc = agreed(parallel, rc);
            H5Pclose(xfer);
            H5Sclose(mspace);
            H5Pclose(lcpl);
            if (d >= 0) H5Dclose(d);
            H5Sclose(s);
        }
        free(data);
    }
    return rc;
}

int h5_set_root_attr(const char *path, const char *name, const char *value) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    if (f < 0) return df_fail("%s: cannot open to add \"%s\"", path, name);
    if (H5Aexists(f, name) > 0) H5Adelete(f, name);
    int rc = write_str_attr(f, name, value);
    if (H5Fclose(f) < 0 && rc == 0) rc = df_fail("%s: cannot close after adding \"%s\"", path, name);
    return rc;
}

int h5_write_model(const Model *m, const Topology *t, const char *path) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    const int rank = t ? t->rank : 0, stage = t ? t->stage : 0, group = t ? t->group : 0, D = t ? t->D : 1, P = t ? t->P : 1;
    TensorRef *refs;
    const int n = tensor_refs(&m->cfg, &refs);
    /* storage dtypes, from the ranks that hold each tensor */
    int *dt = df_malloc(sizeof(int) * (size_t)n);
    for (int i = 0; i < n; i++) dt[i] = tensor_ref_data(m, &refs[i]) ? (int)tensor_ref_dtype(m, &refs[i]) : -1;
    MPI_Allreduce(MPI_IN_PLACE, dt, n, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    hid_t fapl = file_access(1);
    /* written in place (a new file): output_write_model gives a temporary name and commits it */
    hid_t f = H5Fcreate(path, H5F_ACC_EXCL, H5P_DEFAULT, fapl);
    H5Pclose(fapl);
    if (f < 0) {
        free(dt);
        free(refs);
        return df_fail("%s: cannot create", path);
    }
    char *cfg = config_to_json(&m->cfg);
    int rc = write_str_attr(f, "format", FORMAT);
    write_int_attr(f, "format_version", 1);
    if (rc == 0) rc = write_str_attr(f, "config_json", cfg);
    write_int_attr(f, "num_hidden_layers", m->cfg.n_layers);
    write_int_attr(f, "hidden_size", m->cfg.hidden);
    write_int_attr(f, "vocab_size", m->cfg.vocab);
    free(cfg);
    hid_t g = H5Gcreate2(f, "/blocks", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Gclose(g);
    g = H5Gcreate2(f, "/files", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Gclose(g);
    int *bstage = df_calloc((size_t)m->cfg.n_layers + 1, sizeof(int));
    if (t) model_block_stages(t, m, bstage);
    for (int i = 0; i < n && rc == 0; i++) {
        int ws = refs[i].kind == TK_EMBED ? 0 : refs[i].kind == TK_BLOCK ? bstage[refs[i].layer] : P - 1;
        rc = write_tensor(f, m, &refs[i], (DfDtype)dt[i], ws, stage, group, D, t != NULL, path);
    }
    free(bstage);
    if (rc == 0) rc = write_files(f, m, rank, t != NULL, path);
    errno = 0;
    if (H5Fclose(f) < 0 && rc == 0) rc = write_failed(path, "its metadata (close failed)", errno);
    if (t) rc = df_agree(MPI_COMM_WORLD, rc);
    free(dt);
    free(refs);
    return rc;
}
