/* depthfuse run --schema: docs/jobs.md, generated from the commands' option tables (a test checks
 * that the file equals this output, so the docs follow the flags). */
#include <stdio.h>
#include <string.h>

#include "depthfuse/error.h"
#include "job.h"
#include "job_keys.h"

static const char *const INTRO =
    "# Job files\n\n"
    "`depthfuse run JOB.json` runs any command from a JSON file (`mpirun -np N depthfuse run JOB.json`);\n"
    "`depthfuse run --check JOB.json` checks it and prints the command line it stands for, running nothing;\n"
    "`depthfuse plan JOB.json` prints its plan (docs/distributed.md). A job's keys are the command's\n"
    "options: key `seq_len` is `--seq-len`, a boolean key `true` gives the flag, a list gives the option\n"
    "once per item. compress and prune take their method and its own options under\n"
    "`\"method\": {\"NAME\": {...}}`; the options every method shares stay at the top level:\n\n"
    "```json\n"
    "{\n"
    "  \"command\": \"compress\",\n"
    "  \"model\": \"../../tests/fixtures/models/base-16L\",\n"
    "  \"out\": \"out/base-16L-fusegpt\",\n"
    "  \"remove\": 2,\n"
    "  \"method\": {\"fusegpt\": {\"calib\": \"../../tests/fixtures/data/calib.train.txt\", \"rank\": 8}}\n"
    "}\n"
    "```\n\n"
    "Paths (the options whose argument is a file or folder, marked path in the type column) are relative to the job\n"
    "file's folder unless absolute. A job is strict JSON; an unknown key, a value of the wrong type, a key\n"
    "given twice or a missing required key is refused with one line naming the file and the key path\n"
    "(`job.json: method.fusegpt.rank: expected an integer`) before any other file is opened, and nothing\n"
    "runs. Defaults are the options' own; what a value means and what it is checked against is the\n"
    "command's (`depthfuse CMD --help`).\n\n"
    "This file is `depthfuse run --schema`, generated from the commands' option tables (tests/jobs.cmake\n"
    "checks that they agree).\n\n"
    "## Keys of every job\n\n"
    "| key | type | default | meaning |\n"
    "|---|---|---|---|\n"
    "| `command` | string | required | the command to run (below) |\n"
    "| `description` | string | | what the job is for (not used) |\n"
    "| `ranks` | integer | any | the ranks the job is for: `run` refuses another `-np`; `plan` plans for it |\n"
    "| `inputs` | list of strings | [] | positional arguments, paths (commands that take them) |\n"
    "| `method` | object | required | compress and prune: `{\"NAME\": {its options}}` |\n";

static void escape_pipes(const char *s) {
    for (; *s; s++) {
        if (*s == '|') fputs("\\|", stdout);
        else putchar(*s);
    }
}

static void print_table(const JobKeys *t) {
    printf("| key | type | default | meaning |\n|---|---|---|---|\n");
    for (int i = 0; i < t->n; i++) {
        const JobKey *k = &t->k[i];
        printf("| `%s` | %s%s | ", k->key, job_kind_type(k->kind), k->path ? ", path" : "");
        if (k->required) printf("required");
        else if (k->def) printf("`%s`", k->def);
        printf(" | ");
        escape_pipes(k->help);
        printf(" (`%s`) |\n", k->flag);
    }
}

void job_print_schema(void) {
    fputs(INTRO, stdout);
    for (int c = 0; job_command_at(c); c++) {
        const Command *cmd = job_command_at(c);
        const char *name = cmd->name;
        JobKeys t;
        if (!strcmp(name, "run") || !strcmp(name, "plan") || job_keys(&t, name, NULL) < 0) continue;
        printf("\n## %s\n\n%s.", name, cmd->summary);
        if (t.positional) printf(" `inputs`: %s.", t.positional_name);
        printf("\n\n");
        print_table(&t);
        job_keys_free(&t);
        const char *summary;
        if (!strcmp(name, "prune")) { /* compress's removal methods, the same tables */
            printf("\n`method`: ");
            for (int i = 0; job_method(name, i, NULL); i++) printf("%s`%s`", i ? ", " : "", job_method(name, i, NULL));
            printf(", with the keys of compress's `method.NAME` below.\n");
            continue;
        }
        for (int i = 0; job_has_methods(name) && job_method(name, i, &summary); i++) {
            const char *m = job_method(name, i, &summary);
            if (job_keys(&t, name, m) < 0) continue;
            printf("\n### %s: method.%s\n\n%s.\n\n", name, m, summary);
            print_table(&t);
            job_keys_free(&t);
        }
    }
    df_clear_error();
}
