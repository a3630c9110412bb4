# Block importance and removal.
df_test_exe(test_importance test_importance.c)
df_test(importance_np1 1 $<TARGET_FILE:test_importance>)
df_test(importance_np2 2 $<TARGET_FILE:test_importance>)
df_test(cli_importance 0 sh ${CMAKE_CURRENT_SOURCE_DIR}/cli_importance.sh ${MPIEXEC_EXECUTABLE} ${MPIEXEC_PREFLAGS})
df_test(cli_importance_greedy 0 sh ${CMAKE_CURRENT_SOURCE_DIR}/cli_importance_greedy.sh ${MPIEXEC_EXECUTABLE} ${MPIEXEC_PREFLAGS})
