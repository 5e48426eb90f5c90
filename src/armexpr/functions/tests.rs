use super::super::eval::{Context, Evaluator, Scope};
use super::super::Error;
use serde_json::{json, Map, Value};

struct TestCtx;
impl Context for TestCtx {
    fn subscription(&self) -> Value {
        json!({"id": "/subscriptions/sub-1", "subscriptionId": "sub-1", "tenantId": "ten-1", "displayName": "Dev"})
    }
    fn resource_group(&self) -> Option<Value> {
        Some(
            json!({"id": "/subscriptions/sub-1/resourceGroups/rg-1", "name": "rg-1", "location": "uksouth"}),
        )
    }
    fn deployment(&self) -> Value {
        json!({"name": "dep-1"})
    }
    fn tenant(&self) -> Value {
        json!({"tenantId": "ten-1"})
    }
    fn reference(&self, id: &str, api: Option<&str>, full: bool) -> Result<Value, Error> {
        Ok(json!({"id": id, "api": api, "full": full}))
    }
}

fn scope() -> Scope {
    let params: Map<String, Value> = serde_json::from_value(json!({
        "Name": "App-One", "count": 3, "tags": {"a": "1"}, "list": ["x", "y"]
    }))
    .unwrap();
    let vars: Map<String, Value> = serde_json::from_value(json!({
        "prefix": "[toLower(parameters('name'))]",
        "full": "[concat(variables('prefix'), '-', string(parameters('count')))]",
        "loopA": "[variables('loopB')]",
        "loopB": "[variables('loopA')]",
        "copy": [{"name": "disks", "count": 2, "input": {"lun": "[copyIndex('disks')]"}}]
    }))
    .unwrap();
    Scope::new(&params, &vars).unwrap()
}

fn eval(expr: &str) -> Result<Value, Error> {
    let s = scope();
    Evaluator::new(&TestCtx, &s).eval_str(expr)
}

fn ok(expr: &str) -> Value {
    eval(expr).unwrap_or_else(|e| panic!("{expr}: {e}"))
}

fn err(expr: &str) -> String {
    match eval(expr) {
        Ok(v) => panic!("{expr} gave {v}, expected an error"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn parameters_and_variables() {
    assert_eq!(ok("[parameters('name')]"), "App-One");
    assert_eq!(ok("[variables('full')]"), "app-one-3");
    assert_eq!(ok("[variables('disks')]"), json!([{"lun": 0}, {"lun": 1}]));
    assert_eq!(
        err("[variables('loopA')]"),
        "variables.loopB: variable cycle: loopA -> loopB -> loopA"
    );
    assert_eq!(
        err("[parameters('nope')]"),
        "parameters(): the template has no parameter 'nope'"
    );
    assert_eq!(
        err("[variables('nope')]"),
        "The template variable 'nope' is not found. Please see https://aka.ms/arm-syntax-variables for usage details."
    );
}

#[test]
fn literals_and_escapes() {
    assert_eq!(ok("plain"), "plain");
    assert_eq!(ok("[[notAnExpression()]"), "[notAnExpression()]");
    assert_eq!(ok("['it''s']"), "it's");
    assert_eq!(ok("[-5]"), -5);
    assert_eq!(ok("[true]"), true);
    assert_eq!(ok("[null()]"), Value::Null);
}

#[test]
fn scope_functions() {
    assert_eq!(ok("[subscription().subscriptionId]"), "sub-1");
    assert_eq!(ok("[resourceGroup().location]"), "uksouth");
    assert_eq!(ok("[deployment().name]"), "dep-1");
    assert_eq!(ok("[tenant().tenantId]"), "ten-1");
    assert_eq!(ok("[environment().suffixes.storage]"), "core.windows.net");
    assert_eq!(ok("[reference('/x', '2020-01-01', 'Full').full]"), true);
    assert_eq!(ok("[reference('/x').api]"), Value::Null);
}

#[test]
fn resource_ids_in_every_form() {
    assert_eq!(
        ok("[resourceId('Microsoft.Storage/storageAccounts', 'st1')]"),
        "/subscriptions/sub-1/resourceGroups/rg-1/providers/Microsoft.Storage/storageAccounts/st1"
    );
    assert_eq!(
        ok("[resourceId('rg-2', 'Microsoft.Network/virtualNetworks/subnets', 'v', 's')]"),
        "/subscriptions/sub-1/resourceGroups/rg-2/providers/Microsoft.Network/virtualNetworks/v/subnets/s"
    );
    assert_eq!(
        ok("[resourceId('sub-9', 'rg-2', 'Microsoft.Web/sites', 'w')]"),
        "/subscriptions/sub-9/resourceGroups/rg-2/providers/Microsoft.Web/sites/w"
    );
    assert_eq!(
        ok("[subscriptionResourceId('Microsoft.Resources/resourceGroups', 'rg-2')]"),
        "/subscriptions/sub-1/providers/Microsoft.Resources/resourceGroups/rg-2"
    );
    assert_eq!(
        ok("[subscriptionResourceId('sub-9', 'Microsoft.Authorization/roleDefinitions', 'r')]"),
        "/subscriptions/sub-9/providers/Microsoft.Authorization/roleDefinitions/r"
    );
    assert_eq!(
        ok("[tenantResourceId('Microsoft.Management/managementGroups', 'mg')]"),
        "/providers/Microsoft.Management/managementGroups/mg"
    );
    assert_eq!(
        ok("[extensionResourceId('/subscriptions/s/resourceGroups/r', 'Microsoft.Authorization/locks', 'l')]"),
        "/subscriptions/s/resourceGroups/r/providers/Microsoft.Authorization/locks/l"
    );
    assert_eq!(
        err("[resourceId('Microsoft.Network/virtualNetworks/subnets', 'v')]"),
        "resourceId(): resource type 'Microsoft.Network/virtualNetworks/subnets' needs 2 name segment(s), got 1 ('v')"
    );
    assert_eq!(
        err("[resourceId('a', 'b')]"),
        "resourceId(): no resource type (like 'Microsoft.Storage/storageAccounts') among the arguments"
    );
}

#[test]
fn strings() {
    assert_eq!(ok("[concat('a', 1, true, 'b')]"), "a1Trueb");
    assert_eq!(
        ok("[concat(createArray(1), createArray(2, 3))]"),
        json!([1, 2, 3])
    );
    assert_eq!(
        err("[concat('a', createArray(1))]"),
        "concat(): cannot mix array with strings; give all arrays or all strings"
    );
    assert_eq!(ok("[format('{0}-{1:D3}-{{x}}', 'vm', 7)]"), "vm-007-{x}");
    assert_eq!(ok("[format('{0,4}|{0,-4}|', 'ab')]"), "  ab|ab  |");
    assert_eq!(ok("[format('{0:N}', 1234567)]"), "1,234,567");
    assert_eq!(
        err("[format('{0:é2}', 1)]"),
        "format(): format specifier 'é2' is not supported for 1"
    );
    assert_eq!(
        err("[format('{0,999999999}', 1)]"),
        "format(): alignment 999999999 is wider than 131072"
    );
    assert_eq!(
        err("[padLeft('x', 9223372036854775807)]"),
        "padLeft(): the length must be 0 to 131072, got 9223372036854775807"
    );
    assert_eq!(
        err("[format('{1}', 'a')]"),
        "format(): placeholder {1} but only 1 argument(s) given"
    );
    assert_eq!(ok("[toLower('AbC')]"), "abc");
    assert_eq!(ok("[toUpper('AbC')]"), "ABC");
    assert_eq!(ok("[trim('  x ')]"), "x");
    assert_eq!(ok("[replace('a-b-c', '-', '')]"), "abc");
    assert_eq!(ok("[substring('hello', 1, 3)]"), "ell");
    assert_eq!(ok("[substring('hello', 2)]"), "llo");
    assert_eq!(
        err("[substring('abc', 1, 5)]"),
        "substring(): start 1 and length 5 must lie within the string 'abc' (length 3)"
    );
    assert!(err("[substring('abc', -1, 1)]").starts_with("substring(): start -1"));
    assert!(err("[substring('abc', 1, 9223372036854775807)]").starts_with("substring(): start 1"));
    assert_eq!(
        ok("[split('a,b;c', createArray(',', ';'))]"),
        json!(["a", "b", "c"])
    );
    assert_eq!(ok("[join(createArray('a', 'b'), '/')]"), "a/b");
    assert_eq!(ok("[startsWith('Hello', 'he')]"), true);
    assert_eq!(ok("[endsWith('Hello', 'LO')]"), true);
    assert_eq!(ok("[indexOf('abcabc', 'C')]"), 2);
    assert_eq!(ok("[lastIndexOf('abcabc', 'c')]"), 5);
    assert_eq!(ok("[indexOf('abc', 'z')]"), -1);
    assert_eq!(ok("[indexOf(createArray('a', 'B', 'b'), 'b')]"), 2);
    assert_eq!(ok("[lastIndexOf(createArray(1, 2, 1), 1)]"), 2);
    assert_eq!(
        ok("[indexOf(createArray(createArray(1)), createArray(1))]"),
        0
    );
    assert_eq!(ok("[padLeft('7', 3, '0')]"), "007");
    assert_eq!(ok("[padLeft(12, 1, '0')]"), "12");
    assert_eq!(ok("[string(parameters('tags'))]"), r#"{"a":"1"}"#);
    assert_eq!(ok("[string(5)]"), "5");
    assert_eq!(ok("[json('{\"a\": [1]}').a[0]]"), 1);
    assert!(err("[json('{')]").starts_with("json(): not valid JSON"));
    assert_eq!(ok("[base64('hello')]"), "aGVsbG8=");
    assert_eq!(ok("[base64ToString('aGVsbG8=')]"), "hello");
    assert_eq!(ok("[base64ToJson('eyJhIjoxfQ==').a]"), 1);
    assert_eq!(
        ok("[dataUri('Hello')]"),
        "data:text/plain;charset=utf8;base64,SGVsbG8="
    );
    assert_eq!(ok("[dataUriToString('data:;base64,SGVsbG8=')]"), "Hello");
    assert_eq!(
        ok("[uri('https://a.example/x/y', 'z?q=1')]"),
        "https://a.example/x/z?q=1"
    );
    assert_eq!(ok("[uriComponent('a b/c~')]"), "a%20b%2Fc~");
    assert_eq!(ok("[uriComponentToString('a%20b')]"), "a b");
    assert_eq!(ok("[length('héllo')]"), 5);
    assert_eq!(ok("[first('abc')]"), "a");
    assert_eq!(ok("[last('abc')]"), "c");
    assert_eq!(ok("[take('abc', 2)]"), "ab");
    assert_eq!(ok("[skip('abc', 2)]"), "c");
}

#[test]
fn guid_and_unique_string() {
    assert_eq!(
        ok("[guid('a', 'b', 'c')]"),
        "a98fa280-e03f-5afa-8d8e-92d0a9c201e8"
    );
    assert_eq!(
        ok("[uniqueString(resourceGroup().id)]"),
        json!(super::super::ids::unique_string(&[
            "/subscriptions/sub-1/resourceGroups/rg-1"
        ]))
    );
    assert_eq!(
        err("[guid(1)]"),
        "guid(): argument 1 must be a string, not int"
    );
    assert_eq!(
        err("[uniqueString()]"),
        "uniqueString(): takes at least 1 argument(s), got 0"
    );
}

#[test]
fn logic_and_comparison() {
    assert_eq!(ok("[if(equals(1, 1), 'yes', fail())]"), "yes");
    assert_eq!(ok("[if(false, fail(), 'no')]"), "no");
    assert_eq!(
        err("[if('x', 1, 2)]"),
        "if(): the condition must be a bool, not string"
    );
    assert_eq!(ok("[and(true, not(false))]"), true);
    assert_eq!(ok("[or(false, true, fail())]"), true);
    assert_eq!(
        ok("[equals(createArray(1, 'a'), createArray(1, 'a'))]"),
        true
    );
    assert_eq!(ok("[less(1, 2)]"), true);
    assert_eq!(ok("[greaterOrEquals('b', 'a')]"), true);
    assert_eq!(ok("[lessOrEquals(2, 2)]"), true);
    assert_eq!(ok("[greater(1, 2)]"), false);
    assert_eq!(
        err("[less(1, 'a')]"),
        "less(): can compare two ints or two strings, not int and string"
    );
    assert_eq!(ok("[empty('')]"), true);
    assert_eq!(ok("[empty(createObject())]"), true);
    assert_eq!(ok("[empty(parameters('list'))]"), false);
    assert_eq!(ok("[contains('abc', 'b')]"), true);
    assert_eq!(ok("[contains(parameters('list'), 'y')]"), true);
    assert_eq!(ok("[contains(parameters('tags'), 'A')]"), true);
    assert_eq!(ok("[coalesce(null(), null(), 'x')]"), "x");
    assert_eq!(ok("[bool('TRUE')]"), true);
    assert_eq!(ok("[bool(0)]"), false);
    assert_eq!(
        err("[bool('yes')]"),
        "bool(): cannot convert \"yes\" to a bool"
    );
}

#[test]
fn arrays_and_objects() {
    assert_eq!(ok("[length(parameters('list'))]"), 2);
    assert_eq!(ok("[length(parameters('tags'))]"), 1);
    assert_eq!(
        ok("[createObject('a', 1, 'b', createArray())]"),
        json!({"a": 1, "b": []})
    );
    assert_eq!(
        err("[createObject('a')]"),
        "createObject(): takes key/value pairs (an even number of arguments)"
    );
    assert_eq!(
        ok("[union(createObject('a', createObject('x', 1)), createObject('a', createObject('y', 2)))]"),
        json!({"a": {"x": 1, "y": 2}})
    );
    assert_eq!(
        ok("[union(createArray(1, 2), createArray(2, 3))]"),
        json!([1, 2, 3])
    );
    assert_eq!(
        ok("[intersection(createArray(1, 2, 3), createArray(3, 2))]"),
        json!([2, 3])
    );
    assert_eq!(
        ok("[intersection(createObject('a', 1, 'b', 2), createObject('a', 1, 'b', 3))]"),
        json!({"a": 1})
    );
    assert_eq!(
        ok("[items(createObject('b', 2, 'a', 1))]"),
        json!([{"key": "a", "value": 1}, {"key": "b", "value": 2}])
    );
    assert_eq!(ok("[first(parameters('list'))]"), "x");
    assert_eq!(ok("[last(parameters('list'))]"), "y");
    assert_eq!(ok("[take(parameters('list'), 5)]"), json!(["x", "y"]));
    assert_eq!(ok("[skip(parameters('list'), 1)]"), json!(["y"]));
    assert_eq!(ok("[range(5, 3)]"), json!([5, 6, 7]));
    assert_eq!(ok("[min(3, 1, 2)]"), 1);
    assert_eq!(ok("[max(createArray(3, 9, 2))]"), 9);
    assert_eq!(ok("[array('a')]"), json!(["a"]));
    assert_eq!(ok("[parameters('tags').A]"), "1");
    assert_eq!(ok("[parameters('tags')['a']]"), "1");
    assert_eq!(ok("[parameters('list')[1]]"), "y");
    assert_eq!(
        err("[parameters('list')[2]]"),
        "index 2 is out of range for an array of length 2"
    );
    assert_eq!(
        err("[parameters('tags').b]"),
        "the object has no property 'b' (it has: a)"
    );
    assert_eq!(
        err("[parameters('name').b]"),
        "cannot read property 'b' of string value"
    );
}

#[test]
fn reference_is_refused_in_variables() {
    let vars: Map<String, Value> = serde_json::from_value(
        json!({"r": "[reference('/x').id]", "k": "[listKeys('/x', '1').keys]"}),
    )
    .unwrap();
    let s = Scope::new(&Map::new(), &vars).unwrap();
    let ev = Evaluator::new(&TestCtx, &s);
    assert_eq!(
        ev.eval_str("[variables('r')]").unwrap_err().to_string(),
        "variables.r: reference(): cannot be used in variables (used in variable 'r'); use it in the resource or \
         output instead"
    );
    assert!(ev
        .eval_str("[variables('k')]")
        .unwrap_err()
        .to_string()
        .contains("listKeys(): cannot be used in variables"));
}

#[test]
fn utc_now_formats_the_deployment_time() {
    struct At;
    impl Context for At {
        fn subscription(&self) -> Value {
            json!({})
        }
        fn resource_group(&self) -> Option<Value> {
            None
        }
        fn deployment(&self) -> Value {
            json!({})
        }
        fn tenant(&self) -> Value {
            json!({})
        }
        fn reference(&self, _: &str, _: Option<&str>, _: bool) -> Result<Value, Error> {
            Ok(Value::Null)
        }
        fn utc_now(&self) -> Option<time::OffsetDateTime> {
            Some(time::macros::datetime!(2026-03-04 05:06:07 UTC))
        }
    }
    let s = Scope::default();
    let ev = Evaluator::new(&At, &s);
    assert_eq!(ev.eval_str("[utcNow()]").unwrap(), "20260304T050607Z");
    assert_eq!(
        ev.eval_str("[utcNow('u')]").unwrap(),
        "2026-03-04 05:06:07Z"
    );
    assert_eq!(ev.eval_str("[utcNow('d')]").unwrap(), "3/4/2026");
    assert_eq!(ev.eval_str("[utcNow('yyyy-MM-dd')]").unwrap(), "2026-03-04");
    assert_eq!(
        ev.eval_str("[utcNow('dddd')]").unwrap_err().to_string(),
        "utcNow(): format 'dddd' is not supported"
    );
}

#[test]
fn deep_but_allowed_nesting_evaluates() {
    let deep = format!("[{}'x'{}]", "concat(".repeat(60), ")".repeat(60));
    assert_eq!(ok(&deep), "x");
    let deeper = format!("[{}'x'{}]", "concat(".repeat(100), ")".repeat(100));
    assert!(err(&deeper).contains("nested more than 64 levels deep"));
}

#[test]
fn newer_collection_functions() {
    assert_eq!(
        ok("[objectKeys(createObject('b', 1, 'a', 2))]"),
        json!(["b", "a"])
    );
    assert_eq!(
        ok("[shallowMerge(createArray(createObject('a', createObject('x', 1)), createObject('a', createObject('y', 2))))]"),
        json!({"a": {"y": 2}})
    );
    assert_eq!(
        ok("[flatten(createArray(createArray(1, 2), createArray(), createArray(3)))]"),
        json!([1, 2, 3])
    );
    assert_eq!(
        err("[flatten(createArray(1))]"),
        "flatten(): every element must be an array, not int"
    );
    assert_eq!(ok("[indexFromEnd(parameters('list'), 1)]"), "y");
    assert_eq!(
        err("[indexFromEnd(parameters('list'), 3)]"),
        "indexFromEnd(): index 3 must be 1 to 2 (the array's length)"
    );
    assert_eq!(ok("[tryGet(parameters('tags'), 'a')]"), "1");
    assert_eq!(ok("[tryGet(parameters('tags'), 'missing')]"), Value::Null);
    assert_eq!(ok("[tryGet(parameters('list'), 5)]"), Value::Null);
    assert_eq!(ok("[tryGet(createObject('a', createArray(7)), 'a', 0)]"), 7);
}

#[test]
fn cidr_functions() {
    assert_eq!(
        ok("[parseCidr('10.144.0.0/20')]"),
        json!({"network": "10.144.0.0", "netmask": "255.255.240.0", "broadcast": "10.144.15.255",
               "firstUsable": "10.144.0.1", "lastUsable": "10.144.15.254", "cidr": 20})
    );
    assert_eq!(
        ok("[parseCidr('fdad:3236:5555::/48')]"),
        json!({"network": "fdad:3236:5555::", "netmask": "ffff:ffff:ffff::",
               "firstUsable": "fdad:3236:5555::", "lastUsable": "fdad:3236:5555:ffff:ffff:ffff:ffff:ffff", "cidr": 48})
    );
    assert_eq!(ok("[cidrSubnet('10.144.0.0/20', 24, 0)]"), "10.144.0.0/24");
    assert_eq!(
        ok("[cidrSubnet('10.144.0.0/20', 24, 15)]"),
        "10.144.15.0/24"
    );
    assert_eq!(
        err("[cidrSubnet('10.144.0.0/20', 24, 16)]"),
        "cidrSubnet(): subnet index 16 is out of range (0 to 15)"
    );
    assert_eq!(
        err("[cidrSubnet('10.144.0.0/20', 16, 0)]"),
        "cidrSubnet(): the new prefix length must be 20 to 32, got 16"
    );
    assert_eq!(
        ok("[cidrSubnet('fdad:3236:5555::/48', 52, 3)]"),
        "fdad:3236:5555:3000::/52"
    );
    assert_eq!(ok("[cidrHost('10.144.3.0/24', 0)]"), "10.144.3.1");
    assert_eq!(
        ok("[cidrHost('fdad:3236:5555:3000::/52', 4)]"),
        "fdad:3236:5555:3000::5"
    );
    assert_eq!(
        ok("[cidrSubnet('fdad:3236:5555::/48', 52, 1)]"),
        "fdad:3236:5555:1000::/52"
    );
    assert_eq!(ok("[cidrHost('10.144.3.0/24', 253)]"), "10.144.3.254");
    assert_eq!(
        err("[cidrHost('10.144.3.0/24', 254)]"),
        "cidrHost(): host index 254 is outside the usable range 10.144.3.1 to 10.144.3.254"
    );
    assert_eq!(
        err("[parseCidr('10.0.0.0')]"),
        "parseCidr(): '10.0.0.0' is not a CIDR range like '10.0.0.0/16'"
    );
}

#[test]
fn epoch_conversions() {
    assert_eq!(
        ok("[dateTimeFromEpoch(1683040573)]"),
        "2023-05-02T15:16:13Z"
    );
    assert_eq!(ok("[dateTimeToEpoch('2023-05-02T15:16:13Z')]"), 1683040573);
    assert_eq!(
        err("[dateTimeToEpoch('yesterday')]"),
        "dateTimeToEpoch(): 'yesterday' is not an ISO 8601 date and time like '2023-05-02T15:16:13Z'"
    );
    // Microsoft's dateTimeAdd examples (template-functions-date, "dateTimeAdd"): base '2020-04-07 14:53:14Z'.
    assert_eq!(
        ok("[dateTimeAdd('2020-04-07 14:53:14Z', 'P3Y')]"),
        "4/7/2023 2:53:14 PM"
    );
    assert_eq!(
        ok("[dateTimeAdd('2020-04-07 14:53:14Z', '-P9D')]"),
        "3/29/2020 2:53:14 PM"
    );
    assert_eq!(
        ok("[dateTimeAdd('2020-04-07 14:53:14Z', 'PT1H')]"),
        "4/7/2020 3:53:14 PM"
    );
    assert_eq!(
        ok("[dateTimeAdd('2020-01-31T00:00:00Z', 'P1M', 'yyyy-MM-dd')]"),
        "2020-02-29"
    );
    assert_eq!(
        err("[dateTimeAdd('2020-04-07T14:53:14Z', '3 years')]"),
        "dateTimeAdd(): '3 years' is not an ISO 8601 duration like 'P3Y', '-P9D' or 'PT1H30M'"
    );
}

#[test]
fn numbers() {
    assert_eq!(ok("[int('42')]"), 42);
    assert_eq!(ok("[int(7)]"), 7);
    assert_eq!(err("[int('4x')]"), "int(): '4x' is not an integer");
    assert_eq!(
        err("[int(createArray())]"),
        "int(): argument 1 must be a string or an integer, not array"
    );
    assert_eq!(ok("[add(2, 3)]"), 5);
    assert_eq!(ok("[sub(2, 3)]"), -1);
    assert_eq!(ok("[mul(4, 3)]"), 12);
    assert_eq!(ok("[div(7, 2)]"), 3);
    assert_eq!(ok("[mod(7, 2)]"), 1);
    assert_eq!(
        err("[div(1, 0)]"),
        "div(): integer overflow or division by zero"
    );
    assert_eq!(
        err("[add(9223372036854775807, 1)]"),
        "add(): integer overflow or division by zero"
    );
    assert_eq!(
        err("[add('1', 1)]"),
        "add(): argument 1 must be an integer, not string"
    );
}

#[test]
fn copy_index_needs_a_loop() {
    assert_eq!(
        err("[copyIndex()]"),
        "copyIndex(): used outside a copy loop"
    );
    let s = scope();
    let ev = Evaluator::new(&TestCtx, &s).with_copy(vec![super::super::CopyFrame {
        name: "vms".into(),
        index: 2,
        primary: true,
    }]);
    assert_eq!(ev.eval_str("[copyIndex()]").unwrap(), 2);
    assert_eq!(ev.eval_str("[copyIndex(1)]").unwrap(), 3);
    assert_eq!(ev.eval_str("[copyIndex('VMS', 10)]").unwrap(), 12);
    assert_eq!(
        ev.eval_str("[copyIndex('other')]").unwrap_err().to_string(),
        "copyIndex(): no copy loop named 'other' is active here"
    );
}

#[test]
fn unknown_and_refused_functions_are_named() {
    assert_eq!(
        err("[toLowr('A')]"),
        "unsupported function 'toLowr': not an ARM template function; did you mean 'toLower'?"
    );
    assert_eq!(
        err("[newGuid()]"),
        "newGuid(): may only be used in a parameter's defaultValue"
    );
    assert_eq!(
        err("[filter(createArray(), 'x')]"),
        "filter(): needs a lambda('name', ..., body) with 1 to 2 variable(s) as its last argument"
    );
    assert_eq!(
        err("[utcNow()]"),
        "utcNow(): may only be used in a parameter's defaultValue"
    );
    assert_eq!(
        err("[ns.f(1)]"),
        "unsupported function 'ns.f': no such user-defined function in the template's 'functions'"
    );
}

#[test]
fn user_defined_functions() {
    let fns = json!([{"namespace": "tp", "members": {"name": {
        "parameters": [{"name": "kind", "type": "string"}, {"name": "ods", "type": "string"}],
        "output": {"type": "string", "value": "[toLower(format('{0}-{1}', parameters('kind'), parameters('ods')))]"}
    }}}]);
    let s = scope().with_functions(&fns).unwrap();
    let ev = Evaluator::new(&TestCtx, &s);
    assert_eq!(ev.eval_str("[tp.name('KV', 'RM3')]").unwrap(), "kv-rm3");
    assert_eq!(
        ev.eval_str("[tp.name('KV')]").unwrap_err().to_string(),
        "tp.name(): takes 2 argument(s), got 1"
    );
}

/// Microsoft's lambda examples ("Lambda functions for ARM templates", learn.microsoft.com,
/// azure-resource-manager/templates/template-functions-lambda): the `dogs` array and their outputs.
fn dogs_scope() -> Scope {
    let vars: Map<String, Value> = serde_json::from_value(json!({
        "dogs": [
            {"name": "Evie", "age": 5, "interests": ["Ball", "Frisbee"]},
            {"name": "Casper", "age": 3, "interests": ["Other dogs"]},
            {"name": "Indy", "age": 2, "interests": ["Butter"]},
            {"name": "Kira", "age": 8, "interests": ["Rubs"]}
        ]
    }))
    .unwrap();
    Scope::new(&Map::new(), &vars).unwrap()
}

fn dogs(expr: &str) -> Value {
    let s = dogs_scope();
    Evaluator::new(&TestCtx, &s)
        .eval_str(expr)
        .unwrap_or_else(|e| panic!("{expr}: {e}"))
}

#[test]
fn lambda_functions_match_microsofts_examples() {
    assert_eq!(
        dogs("[filter(variables('dogs'), lambda('dog', greaterOrEquals(lambdaVariables('dog').age, 5)))]"),
        json!([
            {"name": "Evie", "age": 5, "interests": ["Ball", "Frisbee"]},
            {"name": "Kira", "age": 8, "interests": ["Rubs"]}
        ])
    );
    assert_eq!(
        dogs("[map(variables('dogs'), lambda('dog', lambdaVariables('dog').name))]"),
        json!(["Evie", "Casper", "Indy", "Kira"])
    );
    assert_eq!(
        dogs("[map(variables('dogs'), lambda('dog', format('Hello {0}!', lambdaVariables('dog').name)))]"),
        json!(["Hello Evie!", "Hello Casper!", "Hello Indy!", "Hello Kira!"])
    );
    assert_eq!(
        dogs("[map(variables('dogs'), lambda('x', 'i', createObject('i', lambdaVariables('i'), 'dog', lambdaVariables('x').name)))]")[1],
        json!({"i": 1, "dog": "Casper"})
    );
    assert_eq!(
        dogs("[reduce(variables('dogs'), 0, lambda('cur', 'next', add(lambdaVariables('cur'), lambdaVariables('next').age)))]"),
        json!(18)
    );
    assert_eq!(
        dogs("[reduce(createArray(createObject('foo', 123), createObject('bar', 456), createObject('baz', 789)), createObject(), lambda('cur', 'next', union(lambdaVariables('cur'), lambdaVariables('next'))))]"),
        json!({"foo": 123, "bar": 456, "baz": 789})
    );
    assert_eq!(
        dogs("[map(sort(variables('dogs'), lambda('a', 'b', less(lambdaVariables('a').age, lambdaVariables('b').age))), lambda('d', lambdaVariables('d').name))]"),
        json!(["Indy", "Casper", "Evie", "Kira"])
    );
    assert_eq!(
        dogs("[toObject(variables('dogs'), lambda('entry', lambdaVariables('entry').name), lambda('entry', lambdaVariables('entry').age))]"),
        json!({"Evie": 5, "Casper": 3, "Indy": 2, "Kira": 8})
    );
    assert_eq!(
        dogs("[groupBy(createArray('foo', 'bar', 'baz'), lambda('x', substring(lambdaVariables('x'), 0, 1)))]"),
        json!({"f": ["foo"], "b": ["bar", "baz"]})
    );
    assert_eq!(
        dogs("[mapValues(createObject('foo', 'foo'), lambda('val', toUpper(lambdaVariables('val'))))]"),
        json!({"foo": "FOO"})
    );
}

#[test]
fn lambda_misuse_is_named() {
    assert_eq!(
        err("[lambda('x', 1)]"),
        "lambda(): may only be an argument of filter, map, reduce, sort, toObject, groupBy or mapValues"
    );
    assert_eq!(
        err("[map(createArray(1), lambda('x', lambdaVariables('y')))]"),
        "lambdaVariables(): no lambda variable named 'y' is in scope"
    );
    assert_eq!(
        err("[sort(createArray(2, 1), lambda('a', 'b', 'yes'))]"),
        "sort(): the lambda must give a bool, not string"
    );
    // An inconsistent order neither panics nor loops.
    assert_eq!(
        ok("[length(sort(range(0, 50), lambda('a', 'b', true)))]"),
        50
    );
}

#[test]
fn function_and_property_names_match_in_any_case() {
    assert_eq!(ok("[CONCAT('a', ToLower('B'))]"), "ab");
    assert_eq!(ok("[Parameters('NAME')]"), "App-One");
    assert_eq!(ok("[resourcegroup().LOCATION]"), "uksouth");
    assert_eq!(
        ok("[RESOURCEID('Microsoft.Network/virtualNetworks/', 'vnet')]"),
        "/subscriptions/sub-1/resourceGroups/rg-1/providers/Microsoft.Network/virtualNetworks/vnet"
    );
}

#[test]
fn pick_zones_follows_the_region() {
    assert_eq!(
        ok("[pickZones('Microsoft.Compute', 'virtualMachines', 'UK South')]"),
        json!(["1"])
    );
    assert_eq!(
        ok("[pickZones('Microsoft.Compute', 'virtualMachines', 'uksouth', 3)]"),
        json!(["1", "2", "3"])
    );
    assert_eq!(
        ok("[pickZones('Microsoft.Compute', 'virtualMachines', 'ukwest')]"),
        json!([])
    );
}

#[test]
fn arguments_are_checked_against_the_registry() {
    assert_eq!(
        err("[toUpper(1)]"),
        "toUpper(): argument 1 must be a string, not int"
    );
    assert_eq!(
        err("[length(1)]"),
        "length(): argument 1 must be a string or an array or an object, not int"
    );
    assert_eq!(err("[true(1)]"), "true(): takes 0 argument(s), got 1");
    assert_eq!(
        err("[listKeys('x')]"),
        "listKeys(): takes 2 to 3 argument(s), got 1"
    );
}

#[test]
fn the_docs_table_is_the_registry() {
    let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/armexpr.md"))
        .expect("docs/armexpr.md");
    let start = docs
        .find("<!-- functions:start -->\n")
        .expect("docs/armexpr.md has a functions:start marker")
        + "<!-- functions:start -->\n".len();
    let end = docs
        .find("<!-- functions:end -->")
        .expect("docs/armexpr.md has a functions:end marker");
    assert_eq!(
        &docs[start..end],
        super::markdown_table(),
        "docs/armexpr.md's function table differs from the registry: paste the output of \
         `trustprint::armexpr::markdown_table()` between the markers"
    );
    // Every name the registry dispatches is documented, and nothing else.
    for def in super::registry() {
        assert!(super::lookup(def.name).is_some(), "{}", def.name);
        assert!(
            super::lookup(&def.name.to_ascii_uppercase()).is_some(),
            "{}",
            def.name
        );
    }
    assert!(super::lookup("listAccountSas").is_some());
    // `list` itself is an action (Bicep's `config.list()`).
    assert!(super::lookup("list").is_some());
    assert!(super::lookup("nosuchfunction").is_none());
}

// Issue #18 row 6: variables that concat a string with itself 27 times exhausted the server's memory.
#[test]
fn doubling_a_string_stops_at_the_value_bound() {
    let mut vars = Map::new();
    vars.insert("v0".into(), json!("0123456789abcdef0123456789abcdef"));
    for i in 1..=27 {
        vars.insert(
            format!("v{i}"),
            json!(format!(
                "[concat(variables('v{}'), variables('v{}'))]",
                i - 1,
                i - 1
            )),
        );
    }
    let s = Scope::new(&Map::new(), &vars).unwrap();
    let e = Evaluator::new(&TestCtx, &s)
        .eval_str("[length(variables('v27'))]")
        .unwrap_err();
    assert!(
        matches!(e.innermost(), Error::ValueTooLarge { limit } if *limit == super::super::MAX_VALUE_BYTES),
        "{e}"
    );
    assert!(e.to_string().ends_with(
        "the expression builds a value larger than 4194304 bytes (Azure's 4 MB template limit)"
    ));
}

// The size evaluation carries with each value (measured once where it is made, then added up) is the size the
// value bound measures for the finished value, so carrying it changes no limit.
#[test]
fn carried_sizes_are_the_measured_sizes() {
    let s = scope();
    let ev = Evaluator::new(&TestCtx, &s);
    let values = [
        json!("plain text"),
        json!(42),
        json!(null),
        json!("[parameters('tags')]"),
        json!("[parameters('tags').a]"),
        json!("[parameters('list')[1]]"),
        json!("[union(parameters('tags'), createObject('b', variables('full')))]"),
        json!({"a": [1, true, null, "[variables('disks')]"], "b": {"c": "[parameters('list')]"}}),
        // A property copy whose name is also a property: the copy's array replaces it.
        json!({"disks": "first", "copy": [
            {"name": "disks", "count": 3, "input": {"lun": "[copyIndex('disks')]", "n": "[parameters('name')]"}},
            {"name": "more", "count": 0, "input": 1}
        ], "after": [[], {}]}),
        // Two keys that evaluate to the same name: the later value wins.
        json!({"[toLower('K')]": "long value that is replaced", "k": 1}),
    ];
    for v in values {
        let (out, size) = ev.eval_value_sized(&v, "v", true).unwrap();
        assert_eq!(
            size,
            super::super::eval::size_of(&out),
            "{v} evaluates to {out}"
        );
    }
}

#[test]
fn growth_is_refused_before_it_is_built() {
    let mut vars = Map::new();
    vars.insert("big".into(), json!("[padLeft('', 131072, 'x')]"));
    vars.insert(
        "many".into(),
        json!("[map(range(0, 10000), lambda('i', variables('big')))]"),
    );
    vars.insert(
        "wide".into(),
        json!("[replace(variables('big'), 'x', variables('big'))]"),
    );
    let s = Scope::new(&Map::new(), &vars).unwrap();
    let ev = Evaluator::new(&TestCtx, &s);
    for v in ["many", "wide"] {
        let e = ev.eval_str(&format!("[variables('{v}')]")).unwrap_err();
        assert!(
            matches!(e.innermost(), Error::ValueTooLarge { .. }),
            "{v}: {e}"
        );
    }
}

#[test]
fn endless_work_stops_at_the_step_bound() {
    let s = scope();
    let nested =
        "[length(map(range(0, 10000), lambda('i', length(map(range(0, 10000), lambda('j', 1))))))]";
    let e = Evaluator::new(&TestCtx, &s)
        .with_step_limit(200_000)
        .eval_str(nested)
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "evaluation took more than 200000 steps; the template does too much work to deploy"
    );
    // The same work within the bound finishes.
    let small =
        "[length(map(range(0, 100), lambda('i', length(map(range(0, 100), lambda('j', 1))))))]";
    assert_eq!(
        Evaluator::new(&TestCtx, &s)
            .with_step_limit(200_000)
            .eval_str(small)
            .unwrap(),
        100
    );
}

/// A management-group deployment's context, as Microsoft's scope-function reference shows `managementGroup()`.
struct ManagementGroupCtx;
impl Context for ManagementGroupCtx {
    fn subscription(&self) -> Value {
        Value::Null
    }
    fn resource_group(&self) -> Option<Value> {
        None
    }
    fn deployment(&self) -> Value {
        json!({"name": "dep-mg"})
    }
    fn tenant(&self) -> Value {
        json!({"tenantId": "ten-1"})
    }
    fn reference(&self, id: &str, _: Option<&str>, _: bool) -> Result<Value, Error> {
        Ok(json!({"id": id}))
    }
    fn management_group(&self) -> Option<Value> {
        Some(json!({
            "id": "/providers/Microsoft.Management/managementGroups/examplemg1",
            "name": "examplemg1",
            "type": "/providers/Microsoft.Management/managementGroups",
            "properties": {"displayName": "Example MG 1", "tenantId": "ten-1"}
        }))
    }
    fn providers(&self, namespace: &str, resource_type: Option<&str>) -> Result<Value, Error> {
        Ok(json!({"asked": [namespace, resource_type]}))
    }
}

#[test]
fn management_group_functions_need_a_management_group_deployment() {
    let s = scope();
    let mg = |e: &str| Evaluator::new(&ManagementGroupCtx, &s).eval_str(e);
    assert_eq!(mg("[managementGroup().name]").unwrap(), "examplemg1");
    assert_eq!(
        mg("[managementGroupResourceId('Microsoft.Authorization/policyDefinitions', 'p1')]").unwrap(),
        "/providers/Microsoft.Management/managementGroups/examplemg1/providers/Microsoft.Authorization/policyDefinitions/p1"
    );
    // A group named first works from any deployment.
    assert_eq!(
        ok("[managementGroupResourceId('mg2', 'Microsoft.Authorization/policyDefinitions', 'p1')]"),
        "/providers/Microsoft.Management/managementGroups/mg2/providers/Microsoft.Authorization/policyDefinitions/p1"
    );
    assert_eq!(
        err("[managementGroup()]"),
        "managementGroup(): can only be used in a management group deployment; this deployment is at subscription or resource group scope"
    );
}

#[test]
fn providers_is_answered_by_the_context_and_unknown_before_deployment() {
    let s = scope();
    let v = Evaluator::new(&ManagementGroupCtx, &s)
        .eval_str("[providers('Microsoft.Storage', 'storageAccounts')]")
        .unwrap();
    assert_eq!(
        v,
        json!({"asked": ["Microsoft.Storage", "storageAccounts"]})
    );
    assert!(eval("[providers('Microsoft.Storage')]")
        .unwrap_err()
        .is_not_yet_known());
}
