# Distributed core: the HDF5 store and the same numbers at any -np.
df_test_exe(test_h5store test_h5store.c)
df_test(h5store_np1 1 $<TARGET_FILE:test_h5store>)
df_test(h5store_np2 2 $<TARGET_FILE:test_h5store>)
df_test_exe(test_partition test_partition.c)
df_test(partition 0 $<TARGET_FILE:test_partition>)
# every valid (P, D) at -np 1, 2, 4 (oversubscribed on the 2-core CI machine); kjv.test only in CI
df_test(ppl_layouts 0 sh ${CMAKE_CURRENT_SOURCE_DIR}/cli_ppl.sh "kjv.test.txt" "1:1 2:1 2:2 4:1 4:2 4:4"
        ${MPIEXEC_EXECUTABLE} ${MPIEXEC_PREFLAGS})
df_test(cli_convert 0 sh ${CMAKE_CURRENT_SOURCE_DIR}/cli_convert.sh ${MPIEXEC_EXECUTABLE} ${MPIEXEC_PREFLAGS})
# outputs never destroy a user's files (issue 10): refusals, --overwrite, reports, states, kill -9
df_test(cli_outputs 0 sh ${CMAKE_CURRENT_SOURCE_DIR}/cli_outputs.sh ${MPIEXEC_EXECUTABLE} ${MPIEXEC_PREFLAGS})
