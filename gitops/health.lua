-- Argo CD health of an apigw object (ApiGroup, Api, RoutingPlugin, VpcAccess, App, Plugin), from
-- the conditions the apigw operator writes (docs/operator.md):
--   Degraded     Accepted or ResolvedRefs is False (the object is refused; see the message), or
--                Programmed is False with ServingLastGood (an older version still serves)
--   Progressing  no status yet, an older generation observed, or Programmed pending
--   Healthy      Programmed, or valid but unused (a plugin no served Api binds)
local hs = {}
local function condition(kind)
  if obj.status == nil or obj.status.conditions == nil then
    return nil
  end
  for _, found in ipairs(obj.status.conditions) do
    if found.type == kind then
      return found
    end
  end
  return nil
end
local function describe(found)
  return found.type .. " " .. found.status .. " (" .. (found.reason or "") .. "): " .. (found.message or "")
end

local generation = obj.metadata.generation
local observed = obj.status ~= nil and obj.status.observedGeneration or nil
if condition("Accepted") == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the apigw operator to report status"
  return hs
end
if generation ~= nil and (observed == nil or observed < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the apigw operator to observe generation " .. generation
  return hs
end
for _, kind in ipairs({"Accepted", "ResolvedRefs"}) do
  local found = condition(kind)
  if found ~= nil and found.status == "False" then
    hs.status = "Degraded"
    hs.message = describe(found)
    return hs
  end
end
local programmed = condition("Programmed")
if programmed == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the Programmed condition"
elseif programmed.status == "True" or programmed.reason == "Unused" then
  hs.status = "Healthy"
  hs.message = describe(programmed)
elseif programmed.reason == "ServingLastGood" then
  hs.status = "Degraded"
  hs.message = describe(programmed)
else
  hs.status = "Progressing"
  hs.message = describe(programmed)
end
return hs
