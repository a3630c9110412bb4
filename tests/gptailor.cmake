# GPTailor: models, task arithmetic, the optimizer; the search end to end (recipe round trip,
# determinism, kill -9 and --resume, bad input).
df_test_exe(test_gptailor test_gptailor.c)
df_test(gptailor_unit 1 $<TARGET_FILE:test_gptailor>)
df_test(cli_gptailor 0 sh ${CMAKE_CURRENT_SOURCE_DIR}/cli_gptailor.sh ${MPIEXEC_EXECUTABLE} ${MPIEXEC_PREFLAGS})
