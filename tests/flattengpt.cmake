# FlattenGPT: the weight surgery, the distributed Gram matrices and solves, the compress command.
df_test_exe(test_flattengpt test_flattengpt.c)
df_test(flattengpt_flatten 0 $<TARGET_FILE:test_flattengpt>)
df_test_exe(test_linalg test_linalg.c)
foreach(np 1 2 4)
  df_test(linalg_np${np} ${np} $<TARGET_FILE:test_linalg>)
endforeach()
df_test(cli_flattengpt 0 sh ${CMAKE_CURRENT_SOURCE_DIR}/cli_flattengpt.sh ${MPIEXEC_EXECUTABLE} ${MPIEXEC_PREFLAGS})
