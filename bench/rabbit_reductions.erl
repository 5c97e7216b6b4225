%% Which Erlang processes of the broker do the work: every process's
%% reductions over 4 s, grouped by the function it started in, top 14.
%%   scripts/services rabbitmqctl eval "$(cat bench/rabbit_reductions.erl)"
%% rabbit_prequeue is a classic queue's process, rabbit_channel a channel's.
Label = fun(Pid) ->
  case process_info(Pid, [dictionary, initial_call]) of
    undefined -> undefined;
    Info ->
      case proplists:get_value('$initial_call', proplists:get_value(dictionary, Info, [])) of
        undefined -> proplists:get_value(initial_call, Info);
        Call -> Call
      end
  end
end,
Snap = fun() -> maps:from_list([{P, R} || P <- processes(), {reductions, R} <- [process_info(P, reductions)]]) end,
Before = Snap(), timer:sleep(4000), After = Snap(),
ByLabel = maps:fold(fun(P, R, Acc) ->
                      maps:update_with(Label(P), fun(X) -> X + R - maps:get(P, Before, 0) end,
                                       R - maps:get(P, Before, 0), Acc)
                    end, #{}, After),
io:format("total ~p~n", [lists:sum(maps:values(ByLabel))]),
[io:format("~12B ~p~n", [R, L]) || {L, R} <- lists:sublist(lists:reverse(lists:keysort(2, maps:to_list(ByLabel))), 14)],
ok.
