# Job files (depthfuse run) and the planner (depthfuse plan, --dry-run): docs/jobs.md, docs/distributed.md.
set(DF_SRC ${CMAKE_CURRENT_SOURCE_DIR}/..)
# the planner's formulas against what the code allocates and counts
df_test_exe(test_costs test_costs.c)
df_test(costs 0 $<TARGET_FILE:test_costs>)
# docs/jobs.md is `depthfuse run --schema`; every jobs/**/*.json is strict JSON and passes run --check;
# every key of docs/jobs.md reaches its flag; misspelt, mistyped, missing keys fail in one line
df_test(jobs_schema 0 ${DF_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/jobs_keys.py ${DF_SRC} ${MPIEXEC_EXECUTABLE} ${MPIEXEC_PREFLAGS})
# a small mi job end to end == the same command line; the plan's block forwards == the run's and
# its time estimate within the factor docs/distributed.md states; the 70B plan in the docs
df_test(jobs_run 0 sh ${CMAKE_CURRENT_SOURCE_DIR}/cli_jobs.sh ${DF_SRC} ${MPIEXEC_EXECUTABLE} ${MPIEXEC_PREFLAGS})
