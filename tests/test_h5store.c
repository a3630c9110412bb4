/* The HDF5 model store under MPI (run at -np 1 and 2, one pipeline stage per rank): HF -> h5 -> HF
 * round trip gives bit-identical tensors (raw bytes compared with the source safetensors), two or
 * more shards + index with a small shard limit, a config.json the loader accepts, tokenizer files
 * carried verbatim; and a store with a missing dataset or a wrong shape fails on every rank. */
#include <hdf5.h>

#include "depthfuse/error.h"
#include "depthfuse/fileio.h"
#include "depthfuse/h5store.h"
#include "depthfuse/hf_writer.h"
#include "depthfuse/safetensors.h"
#include "depthfuse/setup.h"
#include "test_util.h"

static int rank_, size_;

static void compare_raw(const char *a_dir, const char *b_dir) {
    StSet a, b;
    CHECK(st_open_model(&a, a_dir) == 0, "%s", df_errmsg());
    CHECK(st_open_model(&b, b_dir) == 0, "%s", df_errmsg());
    CHECK(a.n == b.n, "tensor counts %d vs %d", a.n, b.n);
    int same = 0;
    for (int i = 0; i < a.n && i < b.n; i++) {
        const StTensor *x = &a.t[i], *y = st_find(&b, x->name);
        CHECK(y && !strcmp(x->dtype_name, y->dtype_name) && x->nbytes == y->nbytes, "%s differs in header", x->name);
        if (!y || x->nbytes != y->nbytes) continue;
        char *p = df_malloc(x->nbytes), *q = df_malloc(y->nbytes);
        st_read_raw(&a, x, p);
        st_read_raw(&b, y, q);
        CHECK(!memcmp(p, q, x->nbytes), "%s: bytes differ", x->name);
        same += !memcmp(p, q, x->nbytes);
        free(p);
        free(q);
    }
    printf("round trip: %d/%d tensors bit-identical, %d shard files\n", same, a.n, b.nfiles);
    CHECK(b.nfiles >= 2, "expected >= 2 shards, got %d", b.nfiles);
    st_free(&a);
    st_free(&b);
}

static void same_file(const char *a, const char *b) {
    char *x, *y;
    size_t nx, ny;
    CHECK(df_read_file(a, &x, &nx) == 0 && df_read_file(b, &y, &ny) == 0, "%s", df_errmsg());
    CHECK(nx == ny && !memcmp(x, y, nx), "%s and %s differ", a, b);
    free(x);
    free(y);
}

/* rank 0 edits the store serially: drop a dataset, or replace /norm by one of the wrong shape */
static void damage(const char *path, const char *drop, int reshape_norm) {
    if (rank_ == 0) {
        hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
        if (drop) H5Ldelete(f, drop, H5P_DEFAULT);
        if (reshape_norm) {
            H5Ldelete(f, "/norm", H5P_DEFAULT);
            hsize_t d[1] = {191};
            hid_t s = H5Screate_simple(1, d, NULL), ds = H5Dcreate2(f, "/norm", H5T_STD_U16LE, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
            H5Dclose(ds);
            H5Sclose(s);
        }
        H5Fclose(f);
    }
    MPI_Barrier(MPI_COMM_WORLD);
}

static void expect_load_failure(const char *path, const char *what) {
    Topology t;
    Model m;
    int rc = setup_model(&t, &m, path, size_);
    CHECK(rc < 0 && strstr(df_errmsg(), what) && strstr(df_errmsg(), path), "rank %d: expected '%s', got '%s'", rank_, what,
          rc < 0 ? df_errmsg() : "success");
    if (rank_ == 0) printf("damaged store -> %s\n", df_errmsg());
    if (rc == 0) {
        model_free(&m);
        topology_free(&t);
    }
}

int main(int argc, char **argv) {
    test_init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
    char dir[512];
    if (rank_ == 0) snprintf(dir, sizeof dir, "%s", test_tmpdir("h5"));
    MPI_Bcast(dir, sizeof dir, MPI_CHAR, 0, MPI_COMM_WORLD);
    char *h5 = df_path_join(dir, "m.h5"), *hf = df_path_join(dir, "back"), *bad = df_path_join(dir, "bad.h5");
    const char *src = fixture("models/base-16L");

    Topology t;
    Model m;
    CHECK(setup_model(&t, &m, src, size_) == 0, "%s", df_errmsg());
    CHECK(h5_write_model(&m, &t, h5) == 0, "%s", df_errmsg());
    model_free(&m);
    topology_free(&t);

    CHECK(setup_model(&t, &m, h5, size_) == 0, "%s", df_errmsg());
    CHECK(model_write_hf(&m, &t, hf, 3u << 20) == 0, "%s", df_errmsg()); /* 3 MB shards: several files + index */
    model_free(&m);
    topology_free(&t);
    if (rank_ == 0) {
        compare_raw(src, hf);
        char a[1024], b[1024];
        snprintf(a, sizeof a, "%s/tokenizer.json", src);
        snprintf(b, sizeof b, "%s/tokenizer.json", hf);
        same_file(a, b);
        CHECK(df_exists(b) && strstr(hf, "back"), "tokenizer copied");
        char *idx = df_path_join(hf, "model.safetensors.index.json");
        CHECK(df_exists(idx), "no index written");
        free(idx);
        ModelConfig c0, c1;
        CHECK(model_load_config(&c0, src) == 0 && model_load_config(&c1, hf) == 0, "%s", df_errmsg());
        CHECK(c0.n_layers == c1.n_layers && c0.hidden == c1.hidden && c0.rope_theta == c1.rope_theta &&
              c0.tie_embeddings == c1.tie_embeddings, "config differs after the round trip");
        config_free(&c0);
        config_free(&c1);
    }

    /* damaged stores: every rank reports, nobody hangs */
    MPI_Barrier(MPI_COMM_WORLD);
    if (rank_ == 0) df_copy_file(h5, bad);
    MPI_Barrier(MPI_COMM_WORLD);
    damage(bad, "/blocks/007/mlp.up_proj.weight", 0);
    expect_load_failure(bad, "mlp.up_proj.weight");
    if (rank_ == 0) df_copy_file(h5, bad);
    MPI_Barrier(MPI_COMM_WORLD);
    damage(bad, NULL, 1);
    expect_load_failure(bad, "has shape [191], expected [192]");

    MPI_Barrier(MPI_COMM_WORLD);
    if (rank_ == 0) df_rm_rf(dir);
    free(h5);
    free(hf);
    free(bad);
    return test_end("test_h5store");
}
