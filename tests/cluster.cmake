# Cluster operations under a real Slurm (docs/distributed.md, "Slurm"): a one-node cluster of
# tools/slurm_local.sh runs jobs/slurm/demo.sbatch, preempted (SIGUSR1), requeued and resumed ==
# uninterrupted. Skipped (77) where the daemons cannot start (not root, no slurm-wlm or munge: the
# test-only packages of tools/test.sh). Its own waits end before ctest's timeout, so that it always
# stops the cluster itself.
df_test(cluster_slurm 0 sh ${CMAKE_CURRENT_SOURCE_DIR}/cluster_slurm.sh ${PROJECT_SOURCE_DIR})
set_tests_properties(cluster_slurm PROPERTIES PROCESSORS 2 SKIP_RETURN_CODE 77)
